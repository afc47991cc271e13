// RUN: compress-opt %s -split-input-file -verify-diagnostics

func.func @route_weight_width(%x: tensor<1x6x4xf32>, %w: tensor<5xf32>) -> tensor<1x6xi1> {
  // expected-error @+1 {{expects a weight [D] of the input's element type with D = 4, got 'tensor<5xf32>'}}
  %0 = compress.route_tokens %x, %w {threshold = 0.0 : f64} : tensor<1x6x4xf32>, tensor<5xf32> -> tensor<1x6xi1>
  return %0 : tensor<1x6xi1>
}

// -----

func.func @route_integer_input(%x: tensor<1x6x4xi8>, %w: tensor<4xi8>) -> tensor<1x6xi1> {
  // expected-error @+1 {{expects a float input [.., T, D], got 'tensor<1x6x4xi8>'}}
  %0 = compress.route_tokens %x, %w {threshold = 0.0 : f64} : tensor<1x6x4xi8>, tensor<4xi8> -> tensor<1x6xi1>
  return %0 : tensor<1x6xi1>
}

// -----

func.func @route_mask_shape(%x: tensor<1x6x4xf32>, %w: tensor<4xf32>) -> tensor<1x5xi1> {
  // expected-error @+1 {{keep mask dimension 1 (5) does not match the input's (6)}}
  %0 = compress.route_tokens %x, %w {threshold = 0.0 : f64} : tensor<1x6x4xf32>, tensor<4xf32> -> tensor<1x5xi1>
  return %0 : tensor<1x5xi1>
}

// -----

func.func @route_mask_rank(%x: tensor<1x6x4xf32>, %w: tensor<4xf32>) -> tensor<6xi1> {
  // expected-error @+1 {{expects a keep mask of rank 2 (the input's without its last dimension), got 'tensor<6xi1>'}}
  %0 = compress.route_tokens %x, %w {threshold = 0.0 : f64} : tensor<1x6x4xf32>, tensor<4xf32> -> tensor<6xi1>
  return %0 : tensor<6xi1>
}

// -----

func.func @route_mask_element(%x: tensor<1x6x4xf32>, %w: tensor<4xf32>) -> tensor<1x6xi8> {
  // expected-error @+1 {{expects an i1 keep mask, got 'tensor<1x6xi8>'}}
  %0 = compress.route_tokens %x, %w {threshold = 0.0 : f64} : tensor<1x6x4xf32>, tensor<4xf32> -> tensor<1x6xi8>
  return %0 : tensor<1x6xi8>
}

// -----

func.func @route_nan_threshold(%x: tensor<1x6x4xf32>, %w: tensor<4xf32>) -> tensor<1x6xi1> {
  // expected-error @+1 {{expects a threshold that is not NaN}}
  %0 = compress.route_tokens %x, %w {threshold = 0x7FF8000000000000 : f64} : tensor<1x6x4xf32>, tensor<4xf32> -> tensor<1x6xi1>
  return %0 : tensor<1x6xi1>
}

// -----

func.func @route_infinite_scale_weight(%x: tensor<1x6x4xf32>, %w: tensor<4xf32>) -> tensor<1x6xi1> {
  // expected-error @+1 {{expects a finite scale_weight}}
  %0 = compress.route_tokens %x, %w {threshold = 0.0 : f64, scale_weight = 0x7FF0000000000000 : f64} : tensor<1x6x4xf32>, tensor<4xf32> -> tensor<1x6xi1>
  return %0 : tensor<1x6xi1>
}

// -----

func.func @select_types(%k: tensor<1x6xi1>, %a: tensor<1x6x4xf32>, %b: tensor<1x6x3xf32>) -> tensor<1x6x4xf32> {
  // expected-error @+1 {{expects the routed and skipped values to have the result's type 'tensor<1x6x4xf32>'}}
  %0 = compress.select_tokens %k, %a, %b : tensor<1x6xi1>, tensor<1x6x4xf32>, tensor<1x6x3xf32> -> tensor<1x6x4xf32>
  return %0 : tensor<1x6x4xf32>
}

// -----

func.func @gather_width(%x: tensor<1x6x4xf32>, %k: tensor<1x6xi1>) -> tensor<?x3xf32> {
  // expected-error @+1 {{expects rows [count, 4] of the input's element type, got 'tensor<?x3xf32>'}}
  %0 = compress.gather_tokens %x, %k : tensor<1x6x4xf32>, tensor<1x6xi1> -> tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}

// -----

func.func @scatter_mask(%r: tensor<?x3xf32>, %k: tensor<1x5xi1>) -> tensor<1x6x3xf32> {
  // expected-error @+1 {{keep mask dimension 1 (5) does not match the result's (6)}}
  %0 = compress.scatter_tokens %r, %k : tensor<?x3xf32>, tensor<1x5xi1> -> tensor<1x6x3xf32>
  return %0 : tensor<1x6x3xf32>
}
