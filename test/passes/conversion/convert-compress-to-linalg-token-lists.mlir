// RUN: compress-opt %s --convert-compress-to-linalg | FileCheck %s --check-prefix=SCAN
// RUN: compress-opt %s --convert-compress-to-linalg="parallel-token-lists=true" --cse | FileCheck %s --check-prefix=PARALLEL

// Tests the two ways gather and scatter list the kept tokens. By default
// (the CPU) a sequential scan in scf.for lists them and the scatter inserts
// rows in a loop. With parallel-token-lists (the GPU) no loop is left: the
// running counts and the list are reductions over the tokens, the count a
// reduction of its own read once, and the scatter a per-element select that
// reads a row only at kept tokens.
// SCAN-LABEL: func.func @gather_scatter
// SCAN: scf.for
// SCAN: tensor.insert
// SCAN: linalg.generic
// SCAN: scf.for
// SCAN: tensor.insert_slice

// PARALLEL-LABEL: func.func @gather_scatter
// PARALLEL-NOT: scf.for
// PARALLEL: %[[RUNNING:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]
// PARALLEL: arith.cmpi ule
// PARALLEL: %[[KEPT:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]{{.*}}ins(%{{.*}}, %[[RUNNING]] :
// PARALLEL: arith.cmpi eq
// PARALLEL: %[[TOTAL:.*]] = linalg.generic {{.*}}iterator_types = ["reduction"]
// PARALLEL: %[[COUNT:.*]] = tensor.extract %[[TOTAL]][]
// PARALLEL: %[[CAST:.*]] = arith.index_cast %[[COUNT]]
// PARALLEL: tensor.empty(%[[CAST]]) : tensor<?x4xf32>
// PARALLEL: tensor.extract %[[KEPT]]
// PARALLEL: linalg.generic {{.*}}ins(%{{.*}}, %[[RUNNING]] : tensor<6xi1>, tensor<?xi32>) outs(%{{.*}} : tensor<6x3xf32>)
// PARALLEL: scf.if
// PARALLEL: tensor.extract
// PARALLEL: } else {
// PARALLEL-NOT: scf.for
func.func @gather_scatter(%x: tensor<1x6x4xf32>, %keep: tensor<1x6xi1>, %w: tensor<3x4xf32>) -> tensor<1x6x3xf32> {
  %rows = compress.gather_tokens %x, %keep : tensor<1x6x4xf32>, tensor<1x6xi1> -> tensor<?x4xf32>
  %p = compress.linear %rows, %w : tensor<?x4xf32>, tensor<3x4xf32> -> tensor<?x3xf32>
  %y = compress.scatter_tokens %p, %keep : tensor<?x3xf32>, tensor<1x6xi1> -> tensor<1x6x3xf32>
  return %y : tensor<1x6x3xf32>
}
