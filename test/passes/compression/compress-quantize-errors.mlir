// RUN: not compress-opt %s --compress-quantize="skip=fc(" 2>&1 | FileCheck %s --check-prefix=SKIP
// SKIP: error: compress-quantize: bad skip pattern 'fc(': parentheses not balanced
// RUN: not compress-opt %s --compress-quantize="bits=5" 2>&1 | FileCheck %s --check-prefix=BITS
// RUN: not compress-opt %s --compress-quantize="mode=w4a8" 2>&1 | FileCheck %s --check-prefix=MODEBITS
// RUN: not compress-opt %s --compress-quantize="method=awq" 2>&1 | FileCheck %s --check-prefix=METHOD
// RUN: not compress-opt %s --compress-quantize="method=gptq" 2>&1 | FileCheck %s --check-prefix=CALIB
// RUN: not compress-opt %s --compress-quantize="mode=w4a4" 2>&1 | FileCheck %s --check-prefix=MODE
// RUN: not compress-opt %s --compress-quantize="int8-activation-rows=16" 2>&1 | FileCheck %s --check-prefix=ROWS
// RUN: not compress-opt %s --compress-quantize="damp=0" 2>&1 | FileCheck %s --check-prefix=DAMP

// Tests that unsupported options fail with one clear error naming them.
// BITS: compress-quantize: bits=5 is not one of 8, 4, 3, 2
// MODEBITS: compress-quantize: mode=w4a8 quantizes weights to 4 bits, but bits=8
// METHOD: compress-quantize: unsupported method 'awq' (supported: rtn, gptq)
// CALIB: compress-quantize: method 'gptq' needs calibration data (--calibration DIR of compress-opt, compress-run or compress-compile)
// MODE: compress-quantize: unsupported mode 'w4a4' (supported: weight-only, w8a8, w4a8)
// ROWS: no such option int8-activation-rows
// DAMP: compress-quantize: damp=0 is not in (0, 1]
func.func @linear(%x: tensor<3x8xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<0.5> : tensor<2x8xf32>
  %0 = compress.linear %x, %w : tensor<3x8xf32>, tensor<2x8xf32> -> tensor<3x2xf32> loc("fc")
  return %0 : tensor<3x2xf32>
}
// RUN: not compress-opt %s --compress-quantize="layer-bits=fc:5" 2>&1 | FileCheck %s --check-prefix=OVERRIDE
// OVERRIDE: compress-quantize: bad layer-bits entry 'fc:5': bits must be 8, 4, 3 or 2
