// RUN: not compress-opt %s --compress-factorize="rank=1 method=svd skip=fc(" 2>&1 | FileCheck %s --check-prefix=SKIP
// SKIP: error: compress-factorize: bad skip pattern 'fc(': parentheses not balanced
// RUN: not compress-opt %s --compress-factorize="method=svd ratio=0" 2>&1 | FileCheck %s --check-prefix=NONE
// RUN: not compress-opt %s --compress-factorize="method=svd ratio=1.5" 2>&1 | FileCheck %s --check-prefix=RATIO
// RUN: not compress-opt %s --compress-factorize="method=svd ratio=-0.2" 2>&1 | FileCheck %s --check-prefix=NEGATIVE
// RUN: not compress-opt %s --compress-factorize="method=svd ratio=0.5 rank=2" 2>&1 | FileCheck %s --check-prefix=TWO
// RUN: not compress-opt %s --compress-factorize="method=svd energy=2" 2>&1 | FileCheck %s --check-prefix=ENERGY
// RUN: not compress-opt %s --compress-factorize="method=svd rank=3" 2>&1 | FileCheck %s --check-prefix=RANK
// RUN: not compress-opt %s --compress-factorize="method=qr rank=1" 2>&1 | FileCheck %s --check-prefix=METHOD
// RUN: not compress-opt %s --compress-factorize="rank=1" 2>&1 | FileCheck %s --check-prefix=CALIBRATION
// RUN: not compress-opt %s --compress-factorize="method=svd budget=0.5" 2>&1 | FileCheck %s --check-prefix=BUDGET
// RUN: not compress-opt %s --compress-factorize="method=svd rank=1 importance=%t" 2>&1 | FileCheck %s --check-prefix=IMPORTANCE
// RUN: not compress-opt %s --compress-factorize="method=svd rank=1 bits=3" 2>&1 | FileCheck %s --check-prefix=BITS
// RUN: not compress-opt %s --compress-factorize="method=svd rank=1 group-size=8" 2>&1 | FileCheck %s --check-prefix=GROUP
// RUN: not compress-opt %s --compress-factorize="method=svd compensate=1 ratio=0.5" 2>&1 | FileCheck %s --check-prefix=COMPRATIO
// RUN: not compress-opt %s --compress-factorize="method=svd compensate=1 rank=1" 2>&1 | FileCheck %s --check-prefix=FLOAT
// RUN: compress-opt %s --compress-quantize -mlir-print-debuginfo -o %t.quantized.mlir
// RUN: not compress-opt %t.quantized.mlir --compress-factorize="method=svd compensate=1 rank=1" 2>&1 | FileCheck %s --check-prefix=ELSEWHERE
// RUN: rm -rf %t.imp && mkdir -p %t.imp && %python -c "import numpy; numpy.save('%t.imp/fc.npy', numpy.ones(3, numpy.float32))"
// RUN: not compress-opt %s --compress-factorize="method=fisher rank=1 importance=%t.imp" 2>&1 | FileCheck %s --check-prefix=SHAPE
// RUN: not compress-opt %s --compress-factorize="method=fisher rank=1 importance=%t.missing" 2>&1 | FileCheck %s --check-prefix=MISSING

// Tests that bad options fail with one clear line naming them, and output
// nothing.
// NONE: compress-factorize: give exactly one of ratio=, energy=, rank=, budget= (0 given)
// RATIO: compress-factorize: ratio=1.5 is not in (0, 1]
// NEGATIVE: compress-factorize: ratio=-0.2 is not in (0, 1]
// TWO: compress-factorize: give exactly one of ratio=, energy=, rank=, budget= (2 given)
// ENERGY: compress-factorize: energy=2 is not in (0, 1]
// RANK: compress-factorize: rank=3 exceeds min(N, K) = 2 of layer 'fc' [2, 8]
// METHOD: compress-factorize: unsupported method 'qr' (supported: svd, activation-aware, fisher)
// CALIBRATION: compress-factorize: method=activation-aware needs calibration data (--calibration DIR of compress-opt, compress-run or compress-compile)
// BUDGET: compress-factorize: budget= needs calibration data
// IMPORTANCE: compress-factorize: importance= gives FWSVD's row importances: it needs method=fisher
// BITS: compress-factorize: bits=3 is not one of 8, 4 (or 0: float factors)
// GROUP: compress-factorize: group-size needs bits and must not be negative
// COMPRATIO: compress-factorize: compensate takes rank= or budget= (the rank of the added path)
// FLOAT: compress-factorize: compensate: layer 'fc' has nothing to compensate: it is not compressed (skip it with skip=)
// ELSEWHERE: compress-factorize: layer 'fc': nothing to compensate: no pass of this run recorded the float weight it stood for (run compensate in the same pipeline as the pass that compressed it
// SHAPE: compress-factorize: importance of layer 'fc': '{{.*}}fc.npy' has shape [3]: expected [2] or [2, 8]
// MISSING: compress-factorize: importance of layer 'fc': {{.*}}fc.npy
// CHECK-NOT: module
func.func @linear(%x: tensor<3x8xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], [8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]]> : tensor<2x8xf32>
  %0 = compress.linear %x, %w : tensor<3x8xf32>, tensor<2x8xf32> -> tensor<3x2xf32> loc("fc")
  return %0 : tensor<3x2xf32>
}
