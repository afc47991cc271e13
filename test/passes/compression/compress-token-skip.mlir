// RUN: %python -c "import numpy as np; np.save('%t.npy', np.array([[1.0, -1.0, 0.5, 0.0, 0.25]], np.float32))"
// RUN: compress-opt %S/inputs/three_blocks.mlir --compress-token-skip="routers=%t.npy report=%t.json" | FileCheck %s
// RUN: FileCheck %s --check-prefix=REPORT < %t.json
// RUN: %python -c "import numpy as np; np.save('%t.scaled.npy', np.array([[1.0, -1.0, 0.5, 0.0, 1.5, 0.25]], np.float32))"
// RUN: compress-opt %S/inputs/three_blocks.mlir --compress-token-skip="routers=%t.scaled.npy" | FileCheck %s --check-prefix=SCALED

// Block 1 (the default range: all but the first and last block) gets a
// router on its input, block 0's output; its output becomes a select of its
// result at kept tokens and its input elsewhere, which block 2 reads. The
// router's weights and threshold are the file's row.
// CHECK-LABEL: func.func @main
// CHECK:         %[[Y0:.*]] = compress.linear %arg0
// CHECK:         %[[H1:.*]] = arith.addf %arg0, %[[Y0]]
// CHECK:         %[[W:.*]] = arith.constant dense<[1.000000e+00, -1.000000e+00, 5.000000e-01, 0.000000e+00]> : tensor<4xf32>
// CHECK:         %[[KEEP:.*]] = compress.route_tokens %[[H1]], %[[W]] {threshold = 2.500000e-01 : f64} : tensor<2x4xf32>, tensor<4xf32> -> tensor<2xi1>
// CHECK:         %[[Y1:.*]] = compress.linear %[[H1]]
// CHECK:         %[[H2:.*]] = arith.addf %[[H1]], %[[Y1]]
// CHECK:         %[[ROUTED:.*]] = compress.select_tokens %[[KEEP]], %[[H2]], %[[H1]] : tensor<2xi1>, tensor<2x4xf32>, tensor<2x4xf32> -> tensor<2x4xf32>
// CHECK:         compress.linear %[[ROUTED]]
// CHECK:         arith.addf %[[ROUTED]]

// A row of width + 2 also gives the scale weight (before the threshold).
// SCALED: compress.route_tokens {{.*}} {scale_weight = 1.500000e+00 : f64, threshold = 2.500000e-01 : f64}

// REPORT: "block": 1,
// REPORT: "threshold": 0.25
// REPORT: "router": "file",
