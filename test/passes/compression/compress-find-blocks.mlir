// RUN: compress-opt %S/inputs/three_blocks.mlir --compress-find-blocks="report=%t.json" | FileCheck %s
// RUN: FileCheck %s --check-prefix=REPORT < %t.json
// RUN: compress-opt %s --compress-find-blocks -verify-diagnostics | FileCheck %s --check-prefix=NONE

// Each op of block i is annotated with i; the head is in no block.
// CHECK-LABEL: func.func @main
// CHECK: %[[Y0:.*]] = compress.linear %arg0, %{{.*}} {compress.block = 0 : i64}
// CHECK: arith.mulf %[[Y0]], %arg1 {compress.block = 0 : i64}
// CHECK: %[[H1:.*]] = arith.addf %arg0, %[[Y0]] {compress.block = 0 : i64}
// CHECK: %[[Y1:.*]] = compress.linear %[[H1]], %{{.*}} {compress.block = 1 : i64}
// CHECK: arith.mulf %[[Y1]], %arg2 {compress.block = 1 : i64}
// CHECK: %[[H2:.*]] = arith.addf %[[H1]], %[[Y1]] {compress.block = 1 : i64}
// CHECK: compress.linear %[[H2]], %{{.*}} {compress.block = 2 : i64}
// CHECK: %[[H3:.*]] = arith.addf %[[H2]], %{{.*}} {compress.block = 2 : i64}
// CHECK: compress.linear %[[H3]], %{{[^ ]*}} :

// REPORT: "blocks": [
// REPORT: "index": 0,
// REPORT-NEXT: "layers": [
// REPORT-NEXT: "layers.0.fc"
// REPORT: "ops": 3
// REPORT: "index": 2,
// REPORT-NEXT: "layers": [
// REPORT-NEXT: "layers.2.fc"
// REPORT: "pass": "compress-find-blocks"

// Two layers of different shapes do not repeat: a warning, the model as it
// was.
// NONE-LABEL: func.func @main
// NONE-NOT: compress.block
// expected-warning @below {{compress-find-blocks: the model has no repeated blocks; left as it is}}
func.func @main(%x: tensor<2x4xf32>) -> tensor<2x2xf32> {
  %w0 = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [9.0, 1.0, 2.0, 3.0]]> : tensor<3x4xf32>
  %w1 = arith.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>
  %y = compress.linear %x, %w0 : tensor<2x4xf32>, tensor<3x4xf32> -> tensor<2x3xf32>
  %z = compress.linear %y, %w1 : tensor<2x3xf32>, tensor<2x3xf32> -> tensor<2x2xf32>
  return %z : tensor<2x2xf32>
}
