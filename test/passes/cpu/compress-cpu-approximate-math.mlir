// RUN: compress-opt %s --compress-cpu-approximate-math | FileCheck %s

// Tests that erf and exp become arithmetic (no call left to vectorize
// around), while functions without an approximation stay.
// CHECK-LABEL: func.func @transcendental
// CHECK-NOT: math.erf
// CHECK-NOT: math.exp
// CHECK: arith.mulf
// CHECK: math.sin
func.func @transcendental(%x: f32) -> (f32, f32, f32) {
  %0 = math.erf %x : f32
  %1 = math.exp %x : f32
  %2 = math.sin %x : f32
  return %0, %1, %2 : f32, f32, f32
}
