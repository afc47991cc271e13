// RUN: compress-opt %s --compress-factorize="method=svd rank=1" | FileCheck %s --check-prefix=RANK1
// RUN: compress-opt %s --compress-factorize="method=svd energy=0.9" | FileCheck %s --check-prefix=ENERGY
// RUN: compress-opt %s --compress-factorize="method=svd ratio=0.5" | FileCheck %s --check-prefix=RANK1
// RUN: compress-opt %s --compress-factorize="method=svd rank=3" -verify-diagnostics | FileCheck %s --check-prefix=DENSE
// RUN: compress-opt %s --compress-factorize="method=svd rank=1 bits=8" | FileCheck %s --check-prefix=CODES
// RUN: compress-opt %s --compress-factorize="method=svd ratio=0.01" 2>&1 | FileCheck %s --check-prefix=TINY

// Tests the factors of a weight whose SVD is read off by hand: W [4, 6] holds
// 3, 2, 1 and 0.5 on its diagonal, so its singular vectors are unit vectors
// and each factor takes sqrt(sigma): sqrt(3) = 1.73205078, sqrt(2) =
// 1.41421354 (the sign of a singular pair is free, both factors share it).
// ratio=0.5 keeps floor(0.5 * 24 / 10) = 1.
// RANK1-LABEL: func.func @diagonal
// RANK1-DAG: %[[D:.*]] = arith.constant dense<{{\[\[}}[[S:-?]]1.73205078, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00]]> : tensor<1x6xf32>
// RANK1-DAG: %[[U:.*]] = arith.constant dense<{{\[\[}}[[S]]1.73205078], [0.000000e+00], [0.000000e+00], [0.000000e+00]]> : tensor<4x1xf32>
// RANK1: compress.low_rank_linear %arg0, %[[D]], %[[U]] bias %{{.*}} {in_features = 6 : i64, rank = 1 : i64}
// RANK1-NOT: compress.linear
//
// energy=0.9: sigma^2 = 9, 4, 1, 0.25; the first two keep 13 / 14.25 = 0.91.
// ENERGY-LABEL: func.func @diagonal
// ENERGY: arith.constant dense<{{\[\[}}{{-?}}1.73205078, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00], [0.000000e+00, {{-?}}1.41421354, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00]]> : tensor<2x6xf32>
// ENERGY: compress.low_rank_linear {{.*}} {in_features = 6 : i64, rank = 2 : i64}
//
// Rank 3 would keep 3 * (4 + 6) = 30 >= 24 parameters: the layer stays dense.
// DENSE-LABEL: func.func @diagonal
// DENSE: compress.linear
// DENSE-NOT: compress.low_rank_linear
//
// ratio=0.01 keeps floor(0.24) = rank 0: rank 1 is kept, and said.
// TINY: warning: compress-factorize: layer 'layer0': ratio=0.01 keeps less than rank 1; rank 1 kept
// TINY: compress.low_rank_linear {{.*}} rank = 1 : i64
//
// bits=8: one scale per row, max|w| / 127.5; sqrt(3) rounds to code 127 and
// the all-zero rows of up get scale 1 and code 0.
// CODES-LABEL: func.func @diagonal
// CODES-DAG: arith.constant dense<{{\[\[}}{{-?}}127, 0, 0, 0, 0, 0]]> : tensor<1x6xi8>
// CODES-DAG: arith.constant dense<0.0135847116> : tensor<1x1xf32>
// CODES-DAG: arith.constant dense<{{\[\[}}{{-?}}127], [0], [0], [0]]> : tensor<4x1xi8>
// CODES: compress.low_rank_linear %arg0, %{{.*}}, %{{.*}} scales %{{.*}}, %{{.*}} bias %{{.*}} {bits = 8 : i64, in_features = 6 : i64, rank = 1 : i64}
func.func @diagonal(%x: tensor<?x6xf32>) -> tensor<?x4xf32> {
  %w = arith.constant dense<[[3.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.5, 0.0, 0.0]]> : tensor<4x6xf32>
  %b = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  // expected-warning @+1 {{compress-factorize: layer 'layer0' left dense: rank 3 keeps 30 parameters, not fewer than N K = 24}}
  %y = compress.linear %x, %w, %b : tensor<?x6xf32>, tensor<4x6xf32>, tensor<4xf32> -> tensor<?x4xf32>
  return %y : tensor<?x4xf32>
}
