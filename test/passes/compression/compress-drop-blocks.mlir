// RUN: compress-opt %S/inputs/three_blocks.mlir --compress-drop-blocks="blocks=1 report=%t.json" | FileCheck %s
// RUN: FileCheck %s --check-prefix=REPORT < %t.json
// RUN: compress-opt %S/inputs/three_blocks.mlir --compress-drop-blocks="blocks=0,2" | FileCheck %s --check-prefix=TWO

// Block 1 dropped: block 2 reads block 0's output; past.1 and present.1
// leave the interface.
// CHECK-LABEL: func.func @main
// CHECK-SAME: %arg0: tensor<2x4xf32> {compress.name = "x"}, %arg1: tensor<2x4xf32> {compress.name = "past.0"}, %arg2: tensor<2x4xf32> {compress.name = "past.2"})
// CHECK-SAME: -> (tensor<2x3xf32> {compress.name = "logits"}, tensor<2x4xf32> {compress.name = "present.0"}, tensor<2x4xf32> {compress.name = "present.2"})
// CHECK: %[[Y0:.*]] = compress.linear %arg0
// CHECK: %[[P0:.*]] = arith.mulf %[[Y0]], %arg1
// CHECK: %[[H1:.*]] = arith.addf %arg0, %[[Y0]]
// CHECK-NOT: arith.addf %[[H1]]
// CHECK: %[[Y2:.*]] = compress.linear %[[H1]]
// CHECK: %[[P2:.*]] = arith.mulf %[[Y2]], %arg2
// CHECK: %[[H3:.*]] = arith.addf %[[H1]], %[[Y2]]
// CHECK: %[[LOGITS:.*]] = compress.linear %[[H3]]
// CHECK: return %[[LOGITS]], %[[P0]], %[[P2]]

// REPORT: "dropped": false,
// REPORT: "dropped": true,
// REPORT-NEXT: "index": 1,
// REPORT: "remaining": [
// REPORT-NEXT: 0,
// REPORT-NEXT: 2
// REPORT: "removed_arguments": [
// REPORT-NEXT: "past.1"
// REPORT: "removed_results": [
// REPORT-NEXT: "present.1"

// Blocks 0 and 2 dropped: the head reads block 1's output, block 1 reads x.
// TWO-LABEL: func.func @main
// TWO-SAME: (%arg0: tensor<2x4xf32> {compress.name = "x"}, %arg1: tensor<2x4xf32> {compress.name = "past.1"})
// TWO: %[[Y1:.*]] = compress.linear %arg0
// TWO: %[[H:.*]] = arith.addf %arg0, %[[Y1]]
// TWO: compress.linear %[[H]]
// TWO-NOT: compress.linear
