// RUN: not compress-opt %s --compress-prune="skip=fc(" 2>&1 | FileCheck %s --check-prefix=SKIP
// SKIP: error: compress-prune: bad skip pattern 'fc(': parentheses not balanced
// RUN: not compress-opt %s --compress-prune="sparsity=1" 2>&1 | FileCheck %s --check-prefix=SPARSITY
// RUN: not compress-opt %s --compress-prune="sparsity=-0.1" 2>&1 | FileCheck %s --check-prefix=NEGATIVE
// RUN: not compress-opt %s --compress-prune="pattern=4:4" 2>&1 | FileCheck %s --check-prefix=NM
// RUN: not compress-opt %s --compress-prune="pattern=2:3" 2>&1 | FileCheck %s --check-prefix=DIVIDE
// RUN: not compress-opt %s --compress-prune="pattern=half" 2>&1 | FileCheck %s --check-prefix=PATTERN
// RUN: not compress-opt %s --compress-prune="method=wanda" 2>&1 | FileCheck %s --check-prefix=WANDA
// RUN: not compress-opt %s --compress-prune="method=sparsegpt" 2>&1 | FileCheck %s --check-prefix=SPARSEGPT
// RUN: not compress-opt %s --compress-prune="pattern=structured" 2>&1 | FileCheck %s --check-prefix=STRUCTURED
// RUN: not compress-opt %s --compress-prune="method=obc" 2>&1 | FileCheck %s --check-prefix=METHOD
// RUN: not compress-opt %s --compress-prune="bits=3" 2>&1 | FileCheck %s --check-prefix=BITS
// RUN: not compress-opt %s --compress-prune="pattern=2:4 bits=4 group-size=6" 2>&1 | FileCheck %s --check-prefix=GROUP
// RUN: not compress-opt %s --compress-prune="layer-sparsity=fc:1.5" 2>&1 | FileCheck %s --check-prefix=OVERRIDE
// RUN: not compress-opt %s --compress-prune="format=csr" 2>&1 | FileCheck %s --check-prefix=FORMAT

// Tests that bad options fail with one clear line naming them, and output
// nothing.
// SPARSITY: compress-prune: sparsity=1 is not in [0, 1)
// NEGATIVE: compress-prune: sparsity=-0.1 is not in [0, 1)
// NM: compress-prune: pattern=4:4 needs 1 <= N < M <= 16
// DIVIDE: compress-prune: pattern=2:3: M = 3 does not divide K = 8 of layer 'fc'
// PATTERN: compress-prune: unsupported pattern 'half' (supported: unstructured, N:M such as 2:4, structured)
// WANDA: compress-prune: method=wanda needs calibration data (--calibration DIR of compress-opt, compress-run or compress-compile)
// SPARSEGPT: compress-prune: method=sparsegpt needs calibration data
// STRUCTURED: compress-prune: pattern=structured needs calibration data
// METHOD: compress-prune: unsupported method 'obc' (supported: magnitude, wanda, sparsegpt)
// BITS: compress-prune: bits=3 is not one of 8, 4 (or 0: float)
// GROUP: compress-prune: group-size=6 is not a multiple of M = 4
// OVERRIDE: compress-prune: bad layer-sparsity entry 'fc:1.5': expected REGEX:S with S in [0, 1)
// FORMAT: compress-prune: unsupported format 'csr' (supported: auto, sparse, dense)
func.func @linear(%x: tensor<3x8xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<0.5> : tensor<2x8xf32>
  %0 = compress.linear %x, %w : tensor<3x8xf32>, tensor<2x8xf32> -> tensor<3x2xf32> loc("fc")
  return %0 : tensor<3x2xf32>
}
