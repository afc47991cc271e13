// RUN: not compress-opt %S/inputs/three_blocks.mlir --compress-token-skip="skip=1.0" 2>&1 | FileCheck %s --check-prefix=SKIP
// RUN: not compress-opt %S/inputs/three_blocks.mlir --compress-token-skip="skip=-0.1" 2>&1 | FileCheck %s --check-prefix=NEGATIVE
// RUN: not compress-opt %S/inputs/three_blocks.mlir --compress-token-skip="first=0 last=3" 2>&1 | FileCheck %s --check-prefix=RANGE
// RUN: not compress-opt %S/inputs/three_blocks.mlir --compress-token-skip="router=learned" 2>&1 | FileCheck %s --check-prefix=ROUTER
// RUN: not compress-opt %S/inputs/three_blocks.mlir --compress-token-skip="schedule=greedy" 2>&1 | FileCheck %s --check-prefix=SCHEDULE
// RUN: not compress-opt %S/inputs/three_blocks.mlir --compress-token-skip="fit=twice" 2>&1 | FileCheck %s --check-prefix=FIT
// RUN: not compress-opt %S/inputs/three_blocks.mlir --compress-token-skip 2>&1 | FileCheck %s --check-prefix=CALIBRATION
// RUN: %python -c "import numpy as np; np.save('%t.wrong.npy', np.zeros((2, 4), np.float32)); np.save('%t.nan.npy', np.full((1, 5), np.nan, np.float32))"
// RUN: not compress-opt %S/inputs/three_blocks.mlir --compress-token-skip="routers=%t.wrong.npy" 2>&1 | FileCheck %s --check-prefix=SHAPE
// RUN: not compress-opt %S/inputs/three_blocks.mlir --compress-token-skip="routers=%t.nan.npy" 2>&1 | FileCheck %s --check-prefix=NAN
// RUN: not compress-opt %S/inputs/three_blocks.mlir --compress-token-skip="routers=%t.missing.npy" 2>&1 | FileCheck %s --check-prefix=MISSING
// RUN: %python -c "import numpy as np; np.save('%t.ok.npy', np.ones((1, 5), np.float32))"
// RUN: not compress-opt %S/inputs/three_blocks.mlir --compress-token-skip="routers=%t.ok.npy skip-kv=true" 2>&1 | FileCheck %s --check-prefix=KVCACHE
// RUN: not compress-opt %s --compress-token-skip 2>&1 | FileCheck %s --check-prefix=NOBLOCKS

// SKIP: error: compress-token-skip: skip=1.000000 is outside [0, 1)
// NEGATIVE: error: compress-token-skip: skip=-0.100000 is outside [0, 1)
// RANGE: error: compress-token-skip: blocks 0 to 3 are not a range of the model's 3 blocks
// ROUTER: error: compress-token-skip: router='learned' is neither fitted nor random
// SCHEDULE: error: compress-token-skip: schedule='greedy' is neither updates nor uniform
// FIT: error: compress-token-skip: fit='twice' is neither sequential nor once
// CALIBRATION: error: compress-token-skip: fitting routers needs calibration data (--calibration), or give routers=FILE
// SHAPE: error: compress-token-skip: routers='{{.*}}.wrong.npy' holds float32 [2,4]; expected float32 or float64 [1,5] (per routed block its 4 weights, then its threshold) or [1,6] (the weights, the scale weight, the threshold)
// NAN: error: compress-token-skip: routers='{{.*}}.nan.npy' row 0 holds NaN
// MISSING: error: compress-token-skip: cannot read routers='{{.*}}.missing.npy':
// KVCACHE: error: compress-token-skip: skip-kv=true: block 1 has a key/value cache: a skipped token's cache entry would still serve later steps as a key; use skip-kv=false
// NOBLOCKS: error: compress-token-skip: cannot find the model's blocks: the model has no repeated blocks

module {
  func.func @main(%x: tensor<2x4xf32>) -> tensor<2x3xf32> {
    %w = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [9.0, 1.0, 2.0, 3.0]]> : tensor<3x4xf32>
    %y = compress.linear %x, %w : tensor<2x4xf32>, tensor<3x4xf32> -> tensor<2x3xf32>
    return %y : tensor<2x3xf32>
  }
}
