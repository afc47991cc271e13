// RUN: not compress-opt %S/inputs/three_blocks.mlir --compress-drop-blocks 2>&1 | FileCheck %s --check-prefix=NONE
// RUN: not compress-opt %S/inputs/three_blocks.mlir --compress-drop-blocks="count=1 ratio=0.3" 2>&1 | FileCheck %s --check-prefix=TWO
// RUN: not compress-opt %S/inputs/three_blocks.mlir --compress-drop-blocks="count=3" 2>&1 | FileCheck %s --check-prefix=ALL
// RUN: not compress-opt %S/inputs/three_blocks.mlir --compress-drop-blocks="count=-1" 2>&1 | FileCheck %s --check-prefix=NEGATIVE
// RUN: not compress-opt %S/inputs/three_blocks.mlir --compress-drop-blocks="ratio=1.5" 2>&1 | FileCheck %s --check-prefix=RATIO
// RUN: not compress-opt %S/inputs/three_blocks.mlir --compress-drop-blocks="ratio=0.1" 2>&1 | FileCheck %s --check-prefix=ROUNDS
// RUN: not compress-opt %S/inputs/three_blocks.mlir --compress-drop-blocks="blocks=3" 2>&1 | FileCheck %s --check-prefix=RANGE
// RUN: not compress-opt %S/inputs/three_blocks.mlir --compress-drop-blocks="blocks=1,1" 2>&1 | FileCheck %s --check-prefix=TWICE
// RUN: not compress-opt %S/inputs/three_blocks.mlir --compress-drop-blocks="count=1 metric=random" 2>&1 | FileCheck %s --check-prefix=METRIC
// RUN: not compress-opt %S/inputs/three_blocks.mlir --compress-drop-blocks="count=1" 2>&1 | FileCheck %s --check-prefix=CALIBRATION
// RUN: not compress-opt %s --compress-drop-blocks="count=1" 2>&1 | FileCheck %s --check-prefix=NOBLOCKS
// RUN: not compress-opt %S/inputs/three_blocks.mlir --compress-find-blocks="removal=true" 2>&1 | FileCheck %s --check-prefix=REMOVAL

// Bad options and models fail with one line naming the fault.
// NONE: error: compress-drop-blocks: give exactly one of count=, ratio= and blocks=
// TWO: error: compress-drop-blocks: give exactly one of count=, ratio= and blocks=
// ALL: error: compress-drop-blocks: removing 3 blocks leaves none: the model has 3
// NEGATIVE: error: compress-drop-blocks: count=-1 is negative
// RATIO: error: compress-drop-blocks: ratio=1.500000 is outside (0, 1)
// ROUNDS: error: compress-drop-blocks: ratio=0.100000 of 3 blocks rounds to none
// RANGE: error: compress-drop-blocks: block 3 is out of range: the model has 3 blocks (0 to 2)
// TWICE: error: compress-drop-blocks: block 1 is listed twice
// METRIC: error: compress-drop-blocks: metric='random' is neither influence nor removal
// CALIBRATION: error: compress-drop-blocks: metric=influence needs calibration data (--calibration); or list the blocks with blocks=
// NOBLOCKS: error: compress-drop-blocks: cannot find the model's blocks: the model has no repeated blocks
// REMOVAL: error: compress-find-blocks: removal=true needs calibration data (--calibration)

func.func @main(%x: tensor<2x4xf32>) -> tensor<2x3xf32> {
  %w = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [9.0, 1.0, 2.0, 3.0]]> : tensor<3x4xf32>
  %y = compress.linear %x, %w : tensor<2x4xf32>, tensor<3x4xf32> -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}
