// RUN: compress-opt %S/inputs/three_blocks.mlir --compress-share-blocks="last=1 merge=mean corrections=none report=%t.json" | FileCheck %s
// RUN: FileCheck %s --check-prefix=REPORT < %t.json
// RUN: compress-opt %S/inputs/three_blocks.mlir --compress-share-blocks="last=1 merge=first corrections=none" --compress-quantize="bits=4" | FileCheck %s --check-prefix=QUANTIZED

// Blocks 0 and 1 share one weight, the mean of theirs; block 2 keeps its own.
// CHECK-LABEL: func.func @main
// CHECK: %[[SHARED:.*]] = arith.constant dense<{{\[}}[-6.350000e-01, 0.789999961
// CHECK: %[[OWN:.*]] = arith.constant dense<{{\[}}[-5.600000e-01
// CHECK-NOT: arith.constant dense<{{.*}}> : tensor<4x4xf32>
// CHECK: compress.linear %arg0, %[[SHARED]]
// CHECK: compress.linear %{{.*}}, %[[SHARED]]
// CHECK: compress.linear %{{.*}}, %[[OWN]]

// REPORT: "blocks": [
// REPORT-NEXT: 0,
// REPORT-NEXT: 1
// REPORT: "bytes_after": 64,
// REPORT-NEXT: "bytes_before": 128

// A shared weight is quantized once: one set of codes and scales serves both
// layers.
// QUANTIZED-LABEL: func.func @main
// QUANTIZED: %[[CODES:.*]] = arith.constant dense<{{.*}}> : tensor<4x2xi8>
// QUANTIZED: %[[SCALES:.*]] = arith.constant dense<{{.*}}> : tensor<4x1xf32>
// QUANTIZED: compress.quantized_linear %arg0, %[[CODES]], %[[SCALES]]
// QUANTIZED: compress.quantized_linear %{{.*}}, %[[CODES]], %[[SCALES]]
// QUANTIZED: %[[OWN:.*]] = arith.constant dense<{{.*}}> : tensor<4x2xi8>
// QUANTIZED: compress.quantized_linear %{{.*}}, %[[OWN]]
