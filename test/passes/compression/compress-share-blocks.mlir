// RUN: compress-opt %S/inputs/three_blocks.mlir --compress-share-blocks="last=1 merge=mean corrections=none report=%t.json" | FileCheck %s
// RUN: FileCheck %s --check-prefix=REPORT < %t.json
// RUN: compress-opt %S/inputs/three_blocks.mlir --compress-share-blocks="last=1 merge=first corrections=none" --compress-quantize="bits=4" | FileCheck %s --check-prefix=QUANTIZED
// RUN: rm -rf %t.cal && %python -c "import numpy as np, os; [os.makedirs(f'%t.cal/{d}/set0') for d in ('ones', 'zeros')]; [np.save(f'%t.cal/{d}/set0/{n}.npy', f((2, 4), np.float32)) for d, f in (('ones', np.ones), ('zeros', np.zeros)) for n in ('x', 'past.0', 'past.1', 'past.2')]"
// RUN: compress-opt %S/inputs/three_blocks.mlir --calibration %t.cal/ones --passes "compress-share-blocks{last=1 merge=mean}" | FileCheck %s --check-prefix=SCALED
// RUN: compress-opt %S/inputs/three_blocks.mlir --calibration %t.cal/zeros --passes "compress-share-blocks{last=1 merge=least-squares report=%t.zeros.json}" > /dev/null
// RUN: FileCheck %s --check-prefix=ZEROS < %t.zeros.json

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

// With scales, each block's layer output is multiplied by its own scale per
// output channel. On inputs of ones, block 0's scales are the ratios of its
// weight's row sums to the mean weight's: (0, 0.77, -1.21, -0.15) over
// (0.105, 0.27, -1.72, -0.675).
// SCALED-LABEL: func.func @main
// SCALED: %[[SHARED:.*]] = arith.constant dense<{{\[}}[-6.350000e-01
// SCALED: %[[Y0:.*]] = compress.linear %arg0, %[[SHARED]]
// SCALED: %[[SCALES0:.*]] = arith.constant dense<[{{[^,]*}}, 2.85185{{[0-9]*}}, 0.70348{{[0-9]*}}, 0.2222{{[0-9]*}}]> : tensor<4xf32>
// SCALED: %[[SCALED0:.*]] = linalg.generic {{.*}} ins(%[[Y0]], %[[SCALES0]] : tensor<2x4xf32>, tensor<4xf32>)
// SCALED: arith.mulf
// SCALED: arith.mulf %[[SCALED0]], %arg1
// SCALED: arith.addf %arg0, %[[SCALED0]]
// SCALED: compress.linear %{{.*}}, %[[SHARED]]
// SCALED: linalg.generic

// Calibration inputs of zeros fit nothing: the least-squares merge falls
// back to the mean and no channel gets a fitted scale; the report says so.
// ZEROS: "merged_by": "mean: the group's calibration inputs are all zero",
// ZEROS: "unfitted_channels": 4
