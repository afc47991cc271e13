func.func @f(%x: memref<4x3xf32>, %u: memref<3x4xf32>) {
  linalg.transpose ins(%x : memref<4x3xf32>) outs(%u : memref<3x4xf32>) permutation = [oops
  return
}
