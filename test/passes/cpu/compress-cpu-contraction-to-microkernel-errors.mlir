// RUN: compress-opt %s --compress-cpu-contraction-to-microkernel -verify-diagnostics

// Tests that a quantized loop with int8 activations that cannot become a
// microkernel call (its input is a strided view) is an error, not a float
// loop.
#x = affine_map<(d0, d1, d2) -> (d0, d2)>
#w = affine_map<(d0, d1, d2) -> (d1, d2)>
#s = affine_map<(d0, d1, d2) -> (d1, d2 floordiv 8)>
#o = affine_map<(d0, d1, d2) -> (d0, d1)>
func.func @strided(%x: memref<3x8xf32, strided<[16, 1]>>, %w: memref<2x8xi8>, %s: memref<2x1xf32>, %out: memref<3x2xf32>) {
  // expected-error @+1 {{a quantized linear layer with int8 activations needs the quantized microkernel}}
  linalg.generic {indexing_maps = [#x, #w, #s, #o], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w, %s : memref<3x8xf32, strided<[16, 1]>>, memref<2x8xi8>, memref<2x1xf32>) outs(%out : memref<3x2xf32>)
      attrs = {compress.quantized_linear = #compress.quantized_product<bits = 8, group_size = 8, in_features = 8, int8_activations = true, tiled = false>} {
  ^bb0(%a: f32, %q: i8, %scale: f32, %acc: f32):
    %v = arith.sitofp %q : i8 to f32
    %d = arith.mulf %v, %scale : f32
    %p = arith.mulf %a, %d : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  }
  return
}
