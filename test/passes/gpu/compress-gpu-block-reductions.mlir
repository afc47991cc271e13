// RUN: compress-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(compress-gpu-block-reductions))' | FileCheck %s
// RUN: compress-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(compress-gpu-block-reductions{max-outputs=2}))' | FileCheck %s --check-prefix=FEW

// Tests that the mean of squares of a norm (4 rows of 4096) becomes a
// launch of a block per row: 256 threads each summing every 256th square
// from its own lane, the block's total added to the output by thread 0.
// CHECK-LABEL: func.func @sum_of_squares
// CHECK-DAG: %[[ZERO:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[ONE:.*]] = arith.constant 1 : index
// CHECK-DAG: %[[ROWS:.*]] = arith.constant 4 : index
// CHECK-DAG: %[[THREADS:.*]] = arith.constant 256 : index
// CHECK: gpu.launch blocks(%[[ROW:[^,]*]], {{[^)]*}}) in (%{{[^ ]*}} = %[[ROWS]], %{{[^ ]*}} = %[[ONE]], %{{[^ ]*}} = %[[ONE]])
// CHECK-SAME: threads(%[[LANE:[^,]*]], {{[^)]*}}) in (%{{[^ ]*}} = %[[THREADS]], %{{[^ ]*}} = %[[ONE]], %{{[^ ]*}} = %[[ONE]])
// CHECK: %[[R:.*]] = affine.delinearize_index %[[ROW]] into (4) : index
// CHECK: %[[IDENTITY:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[SHARE:.*]] = scf.for %[[K:.*]] = %[[LANE]] to %{{.*}} step %[[THREADS]] iter_args(%[[ACC:.*]] = %[[IDENTITY]]) -> (f32)
// CHECK: %[[X:.*]] = memref.load %{{.*}}[%[[R]], %[[K]]] : memref<4x4096xf32>
// CHECK: %[[SQ:.*]] = arith.mulf %[[X]], %[[X]] : f32
// CHECK: %[[NEXT:.*]] = arith.addf %[[SQ]], %[[ACC]] : f32
// CHECK: scf.yield %[[NEXT]] : f32
// CHECK: %[[TOTAL:.*]] = gpu.all_reduce add %[[SHARE]] uniform {
// CHECK: %[[FIRST:.*]] = arith.cmpi eq, %[[LANE]], %[[ZERO]] : index
// CHECK: scf.if %[[FIRST]] {
// CHECK: %[[OLD:.*]] = memref.load %[[OUT:.*]][%[[R]]] : memref<4xf32>
// CHECK: %[[NEW:.*]] = arith.addf %[[TOTAL]], %[[OLD]] : f32
// CHECK: memref.store %[[NEW]], %[[OUT]][%[[R]]] : memref<4xf32>
// CHECK: gpu.terminator
// CHECK-NOT: linalg.generic
// FEW-LABEL: func.func @sum_of_squares
// FEW: linalg.generic
// FEW-NOT: gpu.all_reduce
func.func @sum_of_squares(%x: memref<4x4096xf32>, %out: memref<4xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>],
                  iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<4x4096xf32>) outs(%out : memref<4xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %sq = arith.mulf %in, %in : f32
    %sum = arith.addf %sq, %acc : f32
    linalg.yield %sum : f32
  }
  return
}

// -----

// Tests a softmax's row maximum over 2 x 9 x 512 scores: a block per
// output, whose indices come from the block index; 128 threads share a
// row of 512, the fold starts from -inf and the block combines with
// maximumf.
// CHECK-LABEL: func.func @row_max
// CHECK-DAG: %[[OUTPUTS:.*]] = arith.constant 18 : index
// CHECK-DAG: %[[THREADS:.*]] = arith.constant 128 : index
// CHECK: gpu.launch blocks(%[[BLOCK:[^,]*]], {{[^)]*}}) in (%{{[^ ]*}} = %[[OUTPUTS]],
// CHECK-SAME: threads({{[^)]*}}) in (%{{[^ ]*}} = %[[THREADS]],
// CHECK: %[[IDX:.*]]:2 = affine.delinearize_index %[[BLOCK]] into (2, 9) : index, index
// CHECK: %[[NEG_INF:.*]] = arith.constant 0xFF800000 : f32
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %[[THREADS]] iter_args(%{{.*}} = %[[NEG_INF]]) -> (f32)
// CHECK: memref.load %{{.*}}[%[[IDX]]#0, %[[IDX]]#1, %{{.*}}] : memref<2x9x512xf32>
// CHECK: arith.maximumf
// CHECK: gpu.all_reduce maximumf
// CHECK: memref.store %{{.*}}, %{{.*}}[%[[IDX]]#0, %[[IDX]]#1] : memref<2x9xf32>
// FEW-LABEL: func.func @row_max
// FEW: linalg.generic
func.func @row_max(%x: memref<2x9x512xf32>, %out: memref<2x9xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x : memref<2x9x512xf32>) outs(%out : memref<2x9xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %max = arith.maximumf %acc, %in : f32
    linalg.yield %max : f32
  }
  return
}

// -----

// Tests that a reduction to one value of an unknown number of elements
// takes 256 threads, reads the position through linalg.index, and is kept
// whatever max-outputs says (one output).
// CHECK-LABEL: func.func @weighted_total
// CHECK: gpu.launch blocks
// CHECK-SAME: threads(%[[LANE:[^,]*]],
// CHECK: scf.for %[[K:.*]] = %[[LANE]] to %{{.*}} step %{{.*}} iter_args
// CHECK: arith.index_cast %[[K]] : index to i64
// CHECK: gpu.all_reduce add
// FEW-LABEL: func.func @weighted_total
// FEW: gpu.all_reduce add
func.func @weighted_total(%x: memref<?xi64>, %out: memref<i64>) {
  linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> ()>],
                  iterator_types = ["reduction"]}
      ins(%x : memref<?xi64>) outs(%out : memref<i64>) {
  ^bb0(%in: i64, %acc: i64):
    %i = linalg.index 0 : index
    %w = arith.index_cast %i : index to i64
    %term = arith.muli %in, %w : i64
    %sum = arith.addi %acc, %term : i64
    linalg.yield %sum : i64
  }
  return
}

// -----

// Tests what stays one thread per output: a short reduced dimension, two
// outputs (an arg-max's value and index), and a fold that is no
// associative combiner (a subtraction).
// CHECK-LABEL: func.func @kept
// CHECK-COUNT-3: linalg.generic
// CHECK-NOT: gpu.all_reduce
func.func @kept(%short: memref<64x8xf32>, %sums: memref<64xf32>, %x: memref<4x4096xf32>,
                %max: memref<4xf32>, %arg: memref<4xi64>, %diff: memref<4xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>],
                  iterator_types = ["parallel", "reduction"]}
      ins(%short : memref<64x8xf32>) outs(%sums : memref<64xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %sum = arith.addf %in, %acc : f32
    linalg.yield %sum : f32
  }
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>,
                                   affine_map<(d0, d1) -> (d0)>],
                  iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<4x4096xf32>) outs(%max, %arg : memref<4xf32>, memref<4xi64>) {
  ^bb0(%in: f32, %m: f32, %a: i64):
    %i = linalg.index 1 : index
    %i64 = arith.index_cast %i : index to i64
    %greater = arith.cmpf ogt, %in, %m : f32
    %newMax = arith.select %greater, %in, %m : f32
    %newArg = arith.select %greater, %i64, %a : i64
    linalg.yield %newMax, %newArg : f32, i64
  }
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>],
                  iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<4x4096xf32>) outs(%diff : memref<4xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %d = arith.subf %acc, %in : f32
    linalg.yield %d : f32
  }
  return
}

// -----

// Tests that a fill just before the reduction, which the reduction
// overwrites whole, becomes its start value: no load of the output, and no
// fill left (a kernel less).
// CHECK-LABEL: func.func @filled_start
// CHECK-SAME: (%[[X:.*]]: memref<4x4096xf32>, %[[OUT:.*]]: memref<4xf32>)
// CHECK: %[[START:.*]] = arith.constant 0xFF800000 : f32
// CHECK-NOT: linalg.fill
// CHECK: gpu.all_reduce maximumf
// CHECK: scf.if
// CHECK-NOT: memref.load %[[OUT]]
// CHECK: %[[NEW:.*]] = arith.maximumf %[[START]], %{{.*}} : f32
// CHECK: memref.store %[[NEW]], %[[OUT]]
func.func @filled_start(%x: memref<4x4096xf32>, %out: memref<4xf32>) {
  %neg_inf = arith.constant 0xFF800000 : f32
  linalg.fill ins(%neg_inf : f32) outs(%out : memref<4xf32>)
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>],
                  iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<4x4096xf32>) outs(%out : memref<4xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %max = arith.maximumf %acc, %in : f32
    linalg.yield %max : f32
  }
  return
}
