// RUN: compress-opt %s --split-input-file --compress-prune="pattern=2:4" | FileCheck %s --check-prefix=NM
// RUN: compress-opt %s --split-input-file --compress-prune="sparsity=0.5 format=sparse" | FileCheck %s --check-prefix=ELL
// RUN: compress-opt %s --split-input-file --compress-prune="sparsity=0.5" | FileCheck %s --check-prefix=AUTO
// RUN: compress-opt %s --split-input-file --compress-prune="pattern=2:4 bits=8" | FileCheck %s --check-prefix=CODES

// Tests magnitude pruning of one layer, with entries worked out by hand.
// Row 0 is [1, -5, 2, 0.5 | 3, 0.1, -4, 2.5]; row 1 [0, 0, 0, 0 | 1, 2, 3, 4].
//
// 2:4 keeps the two largest |w| of each group of 4 (ties: the later
// position stays): row 0 keeps columns 1, 2 | 4, 6, row 1 2, 3 | 6, 7. The
// positions in their group, 2 bits each from the low bits up, make the byte
// 1 + 2*4 + 0*16 + 2*64 = 137 (-119) and 2 + 3*4 + 2*16 + 3*64 = 238 (-18).
// NM-LABEL: func.func @layer
// NM-DAG: %[[V:.*]] = arith.constant dense<{{\[\[}}-5.000000e+00, 2.000000e+00, 3.000000e+00, -4.000000e+00], [0.000000e+00, 0.000000e+00, 3.000000e+00, 4.000000e+00]]> : tensor<2x4xf32>
// NM-DAG: %[[I:.*]] = arith.constant dense<{{\[\[}}-119], [-18]]> : tensor<2x1xi8>
// NM: compress.sparse_linear %arg0, %[[V]], %[[I]] bias %{{.*}} {block = 4 : i64, in_features = 8 : i64, keep = 2 : i64}
// NM-NOT: compress.linear
//
// Unstructured 50% compares the whole layer: the 8 smallest |w| go (the
// four zeros of row 1, 0.1, 0.5 and both 1s). Row 0 keeps 5 entries, row 1
// three; ELL pads row 1 with value 0 at column 0.
// ELL-LABEL: func.func @layer
// ELL-DAG: %[[V:.*]] = arith.constant dense<{{\[\[}}-5.000000e+00, 2.000000e+00, 3.000000e+00, -4.000000e+00, 2.500000e+00], [2.000000e+00, 3.000000e+00, 4.000000e+00, 0.000000e+00, 0.000000e+00]]> : tensor<2x5xf32>
// ELL-DAG: %[[C:.*]] = arith.constant dense<{{\[\[}}1, 2, 4, 6, 7], [5, 6, 7, 0, 0]]> : tensor<2x5xi16>
// ELL-DAG: %[[N:.*]] = arith.constant dense<[5, 3]> : tensor<2xi32>
// ELL: compress.sparse_linear %arg0, %[[V]], %[[C]] counts %[[N]] bias %{{.*}} {in_features = 8 : i64}
//
// format=auto keeps it dense: the widest row holds 5/8 of K, above the
// break-even.
// AUTO-LABEL: func.func @layer
// AUTO: %[[W:.*]] = arith.constant dense<{{\[\[}}0.000000e+00, -5.000000e+00, 2.000000e+00, 0.000000e+00, 3.000000e+00, 0.000000e+00, -4.000000e+00, 2.500000e+00], [0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00]]> : tensor<2x8xf32>
// AUTO: compress.linear %arg0, %[[W]], %{{.*}} :
//
// With bits=8 (one scale per row: max|w| / 127.5) the kept values become
// codes round(w / scale): row 0's scale 5/127.5 rounds up in float32, so
// -5 / scale = -127.49999 and 3 / scale = 76.49999 give -127 and 76; row
// 1's 4 / (4/127.5) clamps to 127.
// CODES-LABEL: func.func @layer
// CODES-DAG: arith.constant dense<{{\[\[}}-127, 51, 76, -102], [0, 0, 96, 127]]> : tensor<2x4xi8>
// CODES-DAG: arith.constant dense<{{\[\[}}0.0392156877], [0.0313725509]]> : tensor<2x1xf32>
// CODES: compress.sparse_linear %arg0, %{{.*}}, %{{.*}} scales %{{.*}} bias %{{.*}} {bits = 8 : i64, block = 4 : i64, group_size = 4 : i64, in_features = 8 : i64, keep = 2 : i64}
func.func @layer(%x: tensor<3x8xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[1.0, -5.0, 2.0, 0.5, 3.0, 0.1, -4.0, 2.5], [0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0]]> : tensor<2x8xf32>
  %b = arith.constant dense<[0.5, -0.5]> : tensor<2xf32>
  %0 = compress.linear %x, %w, %b : tensor<3x8xf32>, tensor<2x8xf32>, tensor<2xf32> -> tensor<3x2xf32> loc("fc")
  return %0 : tensor<3x2xf32>
}
