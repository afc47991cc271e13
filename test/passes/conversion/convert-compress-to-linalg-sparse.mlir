// RUN: compress-opt %s --convert-compress-to-linalg --split-input-file | FileCheck %s

// Tests that an N:M layer becomes one loop over (rows, outputs, stored
// entries), marked with its #compress.sparse_product, whose body decodes
// each entry's 2-bit position, gathers the input at its column and
// dequantises the 8-bit code with its group's scale.
// CHECK-DAG: #[[ENTRY:.*]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-DAG: #[[PACKED:.*]] = affine_map<(d0, d1, d2) -> (d1, d2 floordiv 4)>
// CHECK-DAG: #[[GROUP:.*]] = affine_map<(d0, d1, d2) -> (d1, d2 floordiv 2)>
// CHECK-LABEL: func.func @nm_int8
// CHECK: linalg.generic {indexing_maps = [#[[ENTRY]], #[[PACKED]], #[[GROUP]], #{{.*}}], iterator_types = ["parallel", "parallel", "reduction"]}
// CHECK-SAME: ins(%arg1, %arg2, %arg3 : tensor<2x4xi8>, tensor<2x1xi8>, tensor<2x2xf32>)
// CHECK-SAME: compress.sparse_linear = #compress.sparse_product<keep = 2, block = 4, column_bits = 0, bits = 8, group_size = 2, in_features = 8, int8_activations = false>
// CHECK: %[[ENTRY_INDEX:.*]] = linalg.index 2
// CHECK: arith.shrui
// CHECK: %[[GROUP_START:.*]] = arith.muli %{{.*}}, %c4
// CHECK: %[[COLUMN:.*]] = arith.addi %[[GROUP_START]]
// CHECK: tensor.extract %arg0[%{{.*}}, %[[COLUMN]]] : tensor<?x8xf32>
// CHECK: arith.sitofp
func.func @nm_int8(%x: tensor<?x8xf32>, %v: tensor<2x4xi8>, %i: tensor<2x1xi8>, %s: tensor<2x2xf32>) -> tensor<?x2xf32> {
  %0 = compress.sparse_linear %x, %v, %i scales %s {bits = 8 : i64, block = 4 : i64, group_size = 2 : i64, in_features = 8 : i64, keep = 2 : i64} : tensor<?x8xf32>, tensor<2x4xi8>, tensor<2x1xi8> scales tensor<2x2xf32> -> tensor<?x2xf32>
  return %0 : tensor<?x2xf32>
}

// -----

// 4-bit codes reach their entries only through floordiv maps: a one-byte-per-
// entry shape operand gives the entry loop its extent.
// CHECK-LABEL: func.func @nm_int4
// CHECK: %[[SHAPE:.*]] = tensor.empty() : tensor<4xi8>
// CHECK: linalg.generic
// CHECK-SAME: ins(%arg1, %arg2, %arg3, %[[SHAPE]] : tensor<2x2xi8>, tensor<2x1xi8>, tensor<2x1xf32>, tensor<4xi8>)
func.func @nm_int4(%x: tensor<3x8xf32>, %v: tensor<2x2xi8>, %i: tensor<2x1xi8>, %s: tensor<2x1xf32>) -> tensor<3x2xf32> {
  %0 = compress.sparse_linear %x, %v, %i scales %s {bits = 4 : i64, block = 4 : i64, group_size = 4 : i64, in_features = 8 : i64, keep = 2 : i64} : tensor<3x8xf32>, tensor<2x2xi8>, tensor<2x1xi8> scales tensor<2x1xf32> -> tensor<3x2xf32>
  return %0 : tensor<3x2xf32>
}

// -----

// Tests that an ELL layer with a bias loops over each row's slots, reading
// the input only for slots below the row's count (padding adds 0).
// CHECK-LABEL: func.func @ell
// CHECK: %[[ACC:.*]] = linalg.broadcast ins(%arg4
// CHECK: linalg.generic
// CHECK-SAME: ins(%arg1, %arg2, %arg3 : tensor<2x3xf32>, tensor<2x3xi16>, tensor<2xi32>) outs(%[[ACC]] : tensor<1x5x2xf32>)
// CHECK-SAME: #compress.sparse_product<keep = 0, block = 0, column_bits = 16, bits = 0, group_size = 0, in_features = 8, int8_activations = false>
// CHECK: %[[SLOT:.*]] = linalg.index 3
// CHECK: %[[VALID:.*]] = arith.cmpi ult, %[[SLOT]]
// CHECK: %[[COLUMN:.*]] = arith.select %[[VALID]]
// CHECK: tensor.extract %arg0[%{{.*}}, %{{.*}}, %[[COLUMN]]]
// CHECK: arith.select %[[VALID]]
func.func @ell(%x: tensor<1x5x8xf32>, %v: tensor<2x3xf32>, %c: tensor<2x3xi16>, %n: tensor<2xi32>, %b: tensor<2xf32>) -> tensor<1x5x2xf32> {
  %0 = compress.sparse_linear %x, %v, %c counts %n bias %b {in_features = 8 : i64} : tensor<1x5x8xf32>, tensor<2x3xf32>, tensor<2x3xi16> counts tensor<2xi32> bias tensor<2xf32> -> tensor<1x5x2xf32>
  return %0 : tensor<1x5x2xf32>
}
