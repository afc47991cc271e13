// RUN: not compress-opt %S/inputs/three_blocks.mlir --compress-share-blocks="merge=mean corrections=none" 2>&1 | FileCheck %s --check-prefix=DIVIDE
// RUN: compress-opt %S/inputs/three_blocks.mlir --compress-share-blocks="merge=mean corrections=none remainder=unshared" | FileCheck %s --check-prefix=UNSHARED
// RUN: not compress-opt %S/inputs/three_blocks.mlir --compress-share-blocks="group=1" 2>&1 | FileCheck %s --check-prefix=GROUP
// RUN: not compress-opt %S/inputs/three_blocks.mlir --compress-share-blocks="first=2 last=5 merge=mean corrections=none" 2>&1 | FileCheck %s --check-prefix=RANGE
// RUN: not compress-opt %S/inputs/three_blocks.mlir --compress-share-blocks="group=3 last=1 merge=mean corrections=none remainder=unshared" 2>&1 | FileCheck %s --check-prefix=EMPTY
// RUN: not compress-opt %S/inputs/three_blocks.mlir --compress-share-blocks="last=1 merge=median" 2>&1 | FileCheck %s --check-prefix=MERGE
// RUN: not compress-opt %S/inputs/three_blocks.mlir --compress-share-blocks="last=1 merge=mean corrections=lora" 2>&1 | FileCheck %s --check-prefix=CORRECTIONS
// RUN: not compress-opt %S/inputs/three_blocks.mlir --compress-share-blocks="last=1 remainder=drop" 2>&1 | FileCheck %s --check-prefix=REMAINDER
// RUN: not compress-opt %S/inputs/three_blocks.mlir --compress-share-blocks="last=1" 2>&1 | FileCheck %s --check-prefix=CALIBRATION
// RUN: not compress-opt %S/inputs/three_blocks.mlir --compress-share-blocks="last=1 merge=least-squares corrections=none" 2>&1 | FileCheck %s --check-prefix=LEASTSQUARES
// RUN: not compress-opt %S/inputs/three_blocks.mlir --compress-quantize --compress-share-blocks="last=1 merge=mean corrections=none" 2>&1 | FileCheck %s --check-prefix=QUANTIZED
// RUN: not compress-opt %s --compress-share-blocks="merge=mean corrections=none" 2>&1 | FileCheck %s --check-prefix=NOBLOCKS

// Bad options and models fail with one line naming the fault.
// DIVIDE: error: compress-share-blocks: group=2 does not divide the 3 blocks 0 to 2: give remainder=unshared to leave the last 1 as they are
// UNSHARED-LABEL: func.func @main
// UNSHARED-COUNT-2: arith.constant dense<{{.*}}> : tensor<4x4xf32>
// UNSHARED-NOT: arith.constant dense<{{.*}}> : tensor<4x4xf32>
// GROUP: error: compress-share-blocks: group=1 shares nothing: give 2 or more
// RANGE: error: compress-share-blocks: blocks 2 to 5 are not a range of the model's 3 blocks
// EMPTY: error: compress-share-blocks: blocks 0 to 1 hold no group of 3
// MERGE: error: compress-share-blocks: merge='median' is not one of least-squares, mean, first
// CORRECTIONS: error: compress-share-blocks: corrections='lora' is neither scales nor none
// REMAINDER: error: compress-share-blocks: remainder='drop' is neither error nor unshared
// CALIBRATION: error: compress-share-blocks: corrections=scales needs calibration data (--calibration); corrections=none does not
// LEASTSQUARES: error: compress-share-blocks: merge=least-squares needs calibration data (--calibration); merge=mean and first do not
// QUANTIZED: error: compress-share-blocks: layer 'layers.0.fc' is not a linear layer with a float32 constant weight (share blocks before quantizing, pruning or factorizing them)
// NOBLOCKS: error: compress-share-blocks: cannot find the model's blocks: the model has no repeated blocks

func.func @main(%x: tensor<2x4xf32>) -> tensor<2x3xf32> {
  %w = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [9.0, 1.0, 2.0, 3.0]]> : tensor<3x4xf32>
  %y = compress.linear %x, %w : tensor<2x4xf32>, tensor<3x4xf32> -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}
