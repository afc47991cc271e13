// RUN: compress-opt %s -split-input-file -verify-diagnostics

func.func @linear_k_mismatch(%x: tensor<2x8xf32>, %w: tensor<4x7xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{input's last dimension (8) does not match the weight's K (7)}}
  %0 = compress.linear %x, %w : tensor<2x8xf32>, tensor<4x7xf32> -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @linear_weight_rank(%x: tensor<2x8xf32>, %w: tensor<4x8x1xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{expects a weight of rank 2 ([N, K]), got rank 3}}
  %0 = compress.linear %x, %w : tensor<2x8xf32>, tensor<4x8x1xf32> -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @linear_bias_shape(%x: tensor<2x8xf32>, %w: tensor<4x8xf32>, %b: tensor<5xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{expects a bias of shape [4]}}
  %0 = compress.linear %x, %w, %b : tensor<2x8xf32>, tensor<4x8xf32>, tensor<5xf32> -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @linear_output_features(%x: tensor<2x8xf32>, %w: tensor<4x8xf32>) -> tensor<2x5xf32> {
  // expected-error @+1 {{output's last dimension does not match the weight's N (4)}}
  %0 = compress.linear %x, %w : tensor<2x8xf32>, tensor<4x8xf32> -> tensor<2x5xf32>
  return %0 : tensor<2x5xf32>
}

// -----

func.func @linear_element_type(%x: tensor<2x8xf32>, %w: tensor<4x8xf16>) -> tensor<2x4xf32> {
  // expected-error @+1 {{expects all operands and the result to have element type 'f32', got 'f16'}}
  %0 = compress.linear %x, %w : tensor<2x8xf32>, tensor<4x8xf16> -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @linear_integer(%x: tensor<2x8xi32>, %w: tensor<4x8xi32>) -> tensor<2x4xi32> {
  // expected-error @+1 {{expects a floating-point element type, got 'i32'}}
  %0 = compress.linear %x, %w : tensor<2x8xi32>, tensor<4x8xi32> -> tensor<2x4xi32>
  return %0 : tensor<2x4xi32>
}

// -----

func.func @linear_batch(%x: tensor<3x8xf32>, %w: tensor<4x8xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{output dimension 0 does not match input}}
  %0 = compress.linear %x, %w : tensor<3x8xf32>, tensor<4x8xf32> -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @conv_groups(%x: tensor<1x4x8x8xf32>, %w: tensor<6x3x3x3xf32>) -> tensor<1x6x6x6xf32> {
  // expected-error @+1 {{input channels (4) do not match weight channels x groups (3 x 2)}}
  %0 = compress.conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 2 : i64} : tensor<1x4x8x8xf32>, tensor<6x3x3x3xf32> -> tensor<1x6x6x6xf32>
  return %0 : tensor<1x6x6x6xf32>
}

// -----

func.func @conv_output_size(%x: tensor<1x4x8x8xf32>, %w: tensor<6x4x3x3xf32>) -> tensor<1x6x8x8xf32> {
  // expected-error @+1 {{output spatial dimension 0 is 8, expected 6}}
  %0 = compress.conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64} : tensor<1x4x8x8xf32>, tensor<6x4x3x3xf32> -> tensor<1x6x8x8xf32>
  return %0 : tensor<1x6x8x8xf32>
}

// -----

func.func @conv_stride(%x: tensor<1x4x8x8xf32>, %w: tensor<6x4x3x3xf32>) -> tensor<1x6x6x6xf32> {
  // expected-error @+1 {{expects strides and dilations >= 1, padding >= 0}}
  %0 = compress.conv2d %x, %w {strides = array<i64: 0, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64} : tensor<1x4x8x8xf32>, tensor<6x4x3x3xf32> -> tensor<1x6x6x6xf32>
  return %0 : tensor<1x6x6x6xf32>
}

// -----

func.func @conv_attr_lengths(%x: tensor<1x4x8x8xf32>, %w: tensor<6x4x3x3xf32>) -> tensor<1x6x6x6xf32> {
  // expected-error @+1 {{expects 2 strides, 2 dilations and 4 paddings}}
  %0 = compress.conv2d %x, %w {strides = array<i64: 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64} : tensor<1x4x8x8xf32>, tensor<6x4x3x3xf32> -> tensor<1x6x6x6xf32>
  return %0 : tensor<1x6x6x6xf32>
}

// -----

func.func @embedding_indices(%t: tensor<100x8xf32>, %ids: tensor<4xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{expects integer indices}}
  %0 = compress.embedding %t[%ids] : tensor<100x8xf32>, tensor<4xf32> -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

func.func @embedding_rank(%t: tensor<100x8xf32>, %ids: tensor<4xi64>) -> tensor<4xf32> {
  // expected-error @+1 {{expects output rank = indices rank + 1}}
  %0 = compress.embedding %t[%ids] : tensor<100x8xf32>, tensor<4xi64> -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @embedding_width(%t: tensor<100x8xf32>, %ids: tensor<4xi64>) -> tensor<4x9xf32> {
  // expected-error @+1 {{output's last dimension must be the table's D}}
  %0 = compress.embedding %t[%ids] : tensor<100x8xf32>, tensor<4xi64> -> tensor<4x9xf32>
  return %0 : tensor<4x9xf32>
}

// -----

func.func @quantized_bits(%x: tensor<2x8xf32>, %q: tensor<4x8xi8>, %s: tensor<4x1xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{expects 2 to 8 bits, got 9}}
  %0 = compress.quantized_linear %x, %q, %s {bits = 9 : i64, group_size = 8 : i64, in_features = 8 : i64} : tensor<2x8xf32>, tensor<4x8xi8>, tensor<4x1xf32> -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @quantized_in_features(%x: tensor<2x8xf32>, %q: tensor<4x6xi8>, %s: tensor<4x1xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{input's last dimension (8) is not in_features = 6}}
  %0 = compress.quantized_linear %x, %q, %s {bits = 8 : i64, group_size = 8 : i64, in_features = 6 : i64} : tensor<2x8xf32>, tensor<4x6xi8>, tensor<4x1xf32> -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @quantized_packing(%x: tensor<2x8xf32>, %q: tensor<4x8xi8>, %s: tensor<4x1xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{weight has 8 bytes per row, 4-bit values of K = 8 need 4}}
  %0 = compress.quantized_linear %x, %q, %s {bits = 4 : i64, group_size = 8 : i64, in_features = 8 : i64} : tensor<2x8xf32>, tensor<4x8xi8>, tensor<4x1xf32> -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @quantized_partial_group(%x: tensor<2x8xf32>, %q: tensor<4x8xi8>, %s: tensor<4x1xf32>) -> tensor<2x4xf32> {
  // Groups of 3 over K = 8: two whole groups and a partial one.
  // expected-error @+1 {{expects scales of shape [4, 3]}}
  %0 = compress.quantized_linear %x, %q, %s {bits = 8 : i64, group_size = 3 : i64, in_features = 8 : i64} : tensor<2x8xf32>, tensor<4x8xi8>, tensor<4x1xf32> -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @quantized_scales(%x: tensor<2x8xf32>, %q: tensor<4x8xi8>, %s: tensor<4x2xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{expects scales of shape [4, 1]}}
  %0 = compress.quantized_linear %x, %q, %s {bits = 8 : i64, group_size = 8 : i64, in_features = 8 : i64} : tensor<2x8xf32>, tensor<4x8xi8>, tensor<4x2xf32> -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @quantized_product_on_another_op(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'compress.quantized_linear' belongs on a linalg.generic}}
  %0 = math.exp %x {compress.quantized_linear = #compress.quantized_product<bits = 4, group_size = 8, in_features = 8, int8_activations = false, tiled = false>} : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @quantized_product_not_a_product(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'compress.quantized_linear' must be a #compress.quantized_product}}
  %0 = math.exp %x {compress.quantized_linear = 4 : i64} : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @quantized_product_bits(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{expects 2 to 8 bits, got 9}}
  %0 = math.exp %x {compress.quantized_linear = #compress.quantized_product<bits = 9, group_size = 8, in_features = 8, int8_activations = false, tiled = false>} : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @sparse_keep_not_below_block(%x: tensor<2x8xf32>, %v: tensor<2x8xf32>, %i: tensor<2x2xi8>) -> tensor<2x2xf32> {
  // expected-error @+1 {{expects 1 <= keep < block <= 16, got 4:4}}
  %0 = compress.sparse_linear %x, %v, %i {block = 4 : i64, in_features = 8 : i64, keep = 4 : i64} : tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x2xi8> -> tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}

// -----

func.func @sparse_block_not_dividing_k(%x: tensor<2x6xf32>, %v: tensor<2x3xf32>, %i: tensor<2x1xi8>) -> tensor<2x2xf32> {
  // expected-error @+1 {{block 4 does not divide in_features = 6}}
  %0 = compress.sparse_linear %x, %v, %i {block = 4 : i64, in_features = 6 : i64, keep = 2 : i64} : tensor<2x6xf32>, tensor<2x3xf32>, tensor<2x1xi8> -> tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}

// -----

func.func @sparse_only_keep(%x: tensor<2x8xf32>, %v: tensor<2x4xf32>, %i: tensor<2x1xi8>) -> tensor<2x2xf32> {
  // expected-error @+1 {{expects both keep and block (N:M) or neither (ELL)}}
  %0 = compress.sparse_linear %x, %v, %i {in_features = 8 : i64, keep = 2 : i64} : tensor<2x8xf32>, tensor<2x4xf32>, tensor<2x1xi8> -> tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}

// -----

func.func @sparse_index_bytes(%x: tensor<2x8xf32>, %v: tensor<2x4xf32>, %i: tensor<2x4xi8>) -> tensor<2x2xf32> {
  // expected-error @+1 {{expects i8 indices of shape [2, 1]}}
  %0 = compress.sparse_linear %x, %v, %i {block = 4 : i64, in_features = 8 : i64, keep = 2 : i64} : tensor<2x8xf32>, tensor<2x4xf32>, tensor<2x4xi8> -> tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}

// -----

func.func @sparse_values_shape(%x: tensor<2x8xf32>, %v: tensor<2x5xf32>, %i: tensor<2x1xi8>) -> tensor<2x2xf32> {
  // expected-error @+1 {{expects float values of shape [2, 4]}}
  %0 = compress.sparse_linear %x, %v, %i {block = 4 : i64, in_features = 8 : i64, keep = 2 : i64} : tensor<2x8xf32>, tensor<2x5xf32>, tensor<2x1xi8> -> tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}

// -----

func.func @sparse_ell_without_counts(%x: tensor<2x8xf32>, %v: tensor<2x3xf32>, %c: tensor<2x3xi16>) -> tensor<2x2xf32> {
  // expected-error @+1 {{expects counts (ELL) or keep and block (N:M)}}
  %0 = compress.sparse_linear %x, %v, %c {in_features = 8 : i64} : tensor<2x8xf32>, tensor<2x3xf32>, tensor<2x3xi16> -> tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}

// -----

func.func @sparse_nm_with_counts(%x: tensor<2x8xf32>, %v: tensor<2x4xf32>, %i: tensor<2x1xi8>, %n: tensor<2xi32>) -> tensor<2x2xf32> {
  // expected-error @+1 {{an N:M weight has no counts}}
  %0 = compress.sparse_linear %x, %v, %i counts %n {block = 4 : i64, in_features = 8 : i64, keep = 2 : i64} : tensor<2x8xf32>, tensor<2x4xf32>, tensor<2x1xi8> counts tensor<2xi32> -> tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}

// -----

func.func @sparse_ell_narrow_columns(%x: tensor<2x70000xf32>, %v: tensor<2x3xf32>, %c: tensor<2x3xi16>, %n: tensor<2xi32>) -> tensor<2x2xf32> {
  // expected-error @+1 {{16-bit column indices cannot address in_features = 70000}}
  %0 = compress.sparse_linear %x, %v, %c counts %n {in_features = 70000 : i64} : tensor<2x70000xf32>, tensor<2x3xf32>, tensor<2x3xi16> counts tensor<2xi32> -> tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}

// -----

func.func @sparse_float_with_scales(%x: tensor<2x8xf32>, %v: tensor<2x4xf32>, %i: tensor<2x1xi8>, %s: tensor<2x1xf32>) -> tensor<2x2xf32> {
  // expected-error @+1 {{float values take no scales, zero points, group size or int8 activations}}
  %0 = compress.sparse_linear %x, %v, %i scales %s {block = 4 : i64, in_features = 8 : i64, keep = 2 : i64} : tensor<2x8xf32>, tensor<2x4xf32>, tensor<2x1xi8> scales tensor<2x1xf32> -> tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}

// -----

func.func @sparse_codes_without_scales(%x: tensor<2x8xf32>, %v: tensor<2x4xi8>, %i: tensor<2x1xi8>) -> tensor<2x2xf32> {
  // expected-error @+1 {{integer codes need scales}}
  %0 = compress.sparse_linear %x, %v, %i {bits = 8 : i64, block = 4 : i64, group_size = 4 : i64, in_features = 8 : i64, keep = 2 : i64} : tensor<2x8xf32>, tensor<2x4xi8>, tensor<2x1xi8> -> tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}

// -----

func.func @sparse_bits(%x: tensor<2x8xf32>, %v: tensor<2x4xi8>, %i: tensor<2x1xi8>, %s: tensor<2x1xf32>) -> tensor<2x2xf32> {
  // expected-error @+1 {{expects 8- or 4-bit codes, got 3}}
  %0 = compress.sparse_linear %x, %v, %i scales %s {bits = 3 : i64, block = 4 : i64, group_size = 4 : i64, in_features = 8 : i64, keep = 2 : i64} : tensor<2x8xf32>, tensor<2x4xi8>, tensor<2x1xi8> scales tensor<2x1xf32> -> tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}

// -----

func.func @sparse_scales_shape(%x: tensor<2x8xf32>, %v: tensor<2x2xi8>, %i: tensor<2x1xi8>, %s: tensor<2x1xf32>) -> tensor<2x2xf32> {
  // expected-error @+1 {{expects scales of shape [2, 2]}}
  %0 = compress.sparse_linear %x, %v, %i scales %s {bits = 4 : i64, block = 4 : i64, group_size = 2 : i64, in_features = 8 : i64, keep = 2 : i64} : tensor<2x8xf32>, tensor<2x2xi8>, tensor<2x1xi8> scales tensor<2x1xf32> -> tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}

// -----

func.func @sparse_product_on_another_op(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'compress.sparse_linear' belongs on a linalg.generic}}
  %0 = math.exp %x {compress.sparse_linear = #compress.sparse_product<keep = 2, block = 4, column_bits = 0, bits = 0, group_size = 0, in_features = 8, int8_activations = false>} : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @sparse_product_int8_float(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{int8 activations need integer codes}}
  %0 = math.exp %x {compress.sparse_linear = #compress.sparse_product<keep = 2, block = 4, column_bits = 0, bits = 0, group_size = 0, in_features = 8, int8_activations = true>} : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @low_rank_down_shape(%x: tensor<2x8xf32>, %d: tensor<2x7xf32>, %u: tensor<4x2xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{expects down [2, 8] and up [N, 2]}}
  %0 = compress.low_rank_linear %x, %d, %u {in_features = 8 : i64, rank = 2 : i64} : tensor<2x8xf32>, tensor<2x7xf32>, tensor<4x2xf32> -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @low_rank_input(%x: tensor<2x6xf32>, %d: tensor<2x8xf32>, %u: tensor<4x2xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{input's last dimension (6) is not in_features = 8}}
  %0 = compress.low_rank_linear %x, %d, %u {in_features = 8 : i64, rank = 2 : i64} : tensor<2x6xf32>, tensor<2x8xf32>, tensor<4x2xf32> -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @low_rank_bias_and_addend(%x: tensor<2x8xf32>, %d: tensor<2x8xf32>, %u: tensor<4x2xf32>, %b: tensor<4xf32>, %a: tensor<2x4xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{takes a bias or an addend, not both}}
  %0 = compress.low_rank_linear %x, %d, %u bias %b addend %a {in_features = 8 : i64, rank = 2 : i64} : tensor<2x8xf32>, tensor<2x8xf32>, tensor<4x2xf32> bias tensor<4xf32> addend tensor<2x4xf32> -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @low_rank_addend_type(%x: tensor<2x8xf32>, %d: tensor<2x8xf32>, %u: tensor<4x2xf32>, %a: tensor<2x5xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{expects an addend of the output's type 'tensor<2x4xf32>'}}
  %0 = compress.low_rank_linear %x, %d, %u addend %a {in_features = 8 : i64, rank = 2 : i64} : tensor<2x8xf32>, tensor<2x8xf32>, tensor<4x2xf32> addend tensor<2x5xf32> -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @low_rank_codes_without_scales(%x: tensor<2x8xf32>, %d: tensor<2x8xi8>, %u: tensor<4x2xi8>) -> tensor<2x4xf32> {
  // expected-error @+1 {{integer factors need scales for both}}
  %0 = compress.low_rank_linear %x, %d, %u {bits = 8 : i64, in_features = 8 : i64, rank = 2 : i64} : tensor<2x8xf32>, tensor<2x8xi8>, tensor<4x2xi8> -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @low_rank_scales_shape(%x: tensor<2x8xf32>, %d: tensor<2x8xi8>, %u: tensor<4x2xi8>, %ds: tensor<2x1xf32>, %us: tensor<4x2xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{expects scales [2, 1] and [4, 1]}}
  %0 = compress.low_rank_linear %x, %d, %u scales %ds, %us {bits = 8 : i64, in_features = 8 : i64, rank = 2 : i64} : tensor<2x8xf32>, tensor<2x8xi8>, tensor<4x2xi8> scales tensor<2x1xf32>, tensor<4x2xf32> -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @low_rank_float_scales(%x: tensor<2x8xf32>, %d: tensor<2x8xf32>, %u: tensor<4x2xf32>, %ds: tensor<2x1xf32>, %us: tensor<4x1xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{float factors take no scales or group size}}
  %0 = compress.low_rank_linear %x, %d, %u scales %ds, %us {in_features = 8 : i64, rank = 2 : i64} : tensor<2x8xf32>, tensor<2x8xf32>, tensor<4x2xf32> scales tensor<2x1xf32>, tensor<4x1xf32> -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @low_rank_bits(%x: tensor<2x8xf32>, %d: tensor<2x8xi8>, %u: tensor<4x2xi8>, %ds: tensor<2x1xf32>, %us: tensor<4x1xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{expects 8- or 4-bit factors, got 3}}
  %0 = compress.low_rank_linear %x, %d, %u scales %ds, %us {bits = 3 : i64, in_features = 8 : i64, rank = 2 : i64} : tensor<2x8xf32>, tensor<2x8xi8>, tensor<4x2xi8> scales tensor<2x1xf32>, tensor<4x1xf32> -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @check_count_without_site(%asked: index, %total: index) -> i1 {
  // expected-error @+1 {{needs a non-empty site: the run's error names it}}
  %0 = compress.check_count %asked, %total {site = ""}
  return %0 : i1
}
