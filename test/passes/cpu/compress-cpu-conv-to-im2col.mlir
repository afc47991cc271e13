// RUN: compress-opt %s --compress-cpu-conv-to-im2col | FileCheck %s

// Tests that an ungrouped NCHW convolution becomes a gather of receptive
// fields into [N, C*KH*KW, OH*OW] and a product with the filter.
// CHECK-LABEL: func.func @conv
// CHECK-NOT: linalg.conv_2d_nchw_fchw
// CHECK: %[[FILTER:.*]] = tensor.collapse_shape %{{.*}} : tensor<4x3x3x3xf32> into tensor<4x27xf32>
// CHECK: %[[COLS:.*]] = linalg.generic {{.*}} ins(%{{.*}} : tensor<1x3x8x8xf32>) outs(%{{.*}} : tensor<1x27x36xf32>)
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%[[FILTER]], %[[COLS]] : tensor<4x27xf32>, tensor<1x27x36xf32>)
// CHECK: tensor.expand_shape %{{.*}} : tensor<1x4x36xf32> into tensor<1x4x6x6xf32>
func.func @conv(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>, %acc: tensor<1x4x6x6xf32>) -> tensor<1x4x6x6xf32> {
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%x, %w : tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) outs(%acc : tensor<1x4x6x6xf32>) -> tensor<1x4x6x6xf32>
  return %0 : tensor<1x4x6x6xf32>
}
