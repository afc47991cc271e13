// CPU code-generation passes.
#ifndef COMPRESS_PASSES_CPU_PASSES_TD
#define COMPRESS_PASSES_CPU_PASSES_TD

include "mlir/Pass/PassBase.td"

def ContractionToMicrokernelPass
    : Pass<"compress-cpu-contraction-to-microkernel", "::mlir::ModuleOp"> {
  let summary = "Replace float32 matrix products on buffers by microkernel calls";
  let description = [{
    Finds `linalg` contractions on memrefs (one reduction dimension, any
    number of batch dimensions up to three in all, float32 multiply-add
    bodies, operands indexed by plain dimensions or broadcast) and replaces
    each with a call of the CPU runtime's `compress_rt_contract_f32`, passing
    base addresses and per-dimension element strides. The runtime runs them
    as (batched) sgemm calls; when B is constant (a view of a constant global
    or of the `compress.weights` buffer) it calls
    `compress_rt_contract_f32_constant_b`, which packs B once and reuses it.
    The loop of a quantized linear layer (marked
    `compress.quantized_linear` by convert-compress-to-linalg) becomes a call
    of `compress_rt_quantized_linear_tiled_f32` when its weight was tiled
    (compress-cpu-tile-quantized-weights), else of
    `compress_rt_quantized_linear_f32`; both pass on the number of rows from
    which activations are quantized to int8, and the runtime picks a kernel
    by the number of rows of each call. When the layer's result buffer was
    just filled with zeros (no bias), the fill is removed and the kernel told
    to overwrite the buffer rather than add to it. Runs after bufferization; products it
    cannot express are left to the loop lowering.
  }];
  let dependentDialects = ["::mlir::func::FuncDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::arith::ArithDialect"];
}

def TileQuantizedWeightsPass : Pass<"compress-cpu-tile-quantized-weights"> {
  let summary = "Lay constant quantized weights out in the CPU kernels' tiles";
  let description = [{
    Rewrites each quantized linear loop (the `linalg.generic` marked
    `compress.quantized_linear` by convert-compress-to-linalg) whose weight,
    scales and zero points are constants into the same loop over tiled
    copies of them (layout `tiled` in the marker): output channels in tiles
    of 16, each 32-bit lane holding 8 (4-bit) or 4 (8-bit) consecutive input
    features of one channel, as AVX-512 VNNI dot products consume them (see
    lib/runtime/cpu/QuantizedLayout.h). The loop computes the same values;
    compress-cpu-contraction-to-microkernel calls the tiled kernels for it.
    Layers whose channels are not a multiple of 16, whose input features
    or groups are not a multiple of the lane depth, or whose tables are not
    constants keep the row-major layout. Runs on tensors, before
    compress-cpu-externalize-weights writes the tiles to the weights file.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::linalg::LinalgDialect"];
}

def LowerIndexChecksPass : Pass<"compress-cpu-lower-index-checks", "::mlir::ModuleOp"> {
  let summary = "Lower compress.check_index to a compare and a runtime call";
  let description = [{
    Replaces each `compress.check_index` by: the index wrapped when
    negative; when it is still outside [0, extent), a call of
    `compress_rt_index_out_of_range(index, extent, site number)` (the run then
    fails naming the site) and index 0 instead, so that the lookup reads in
    bounds. The sites are recorded, by number, in the module attribute
    `compress.index_sites`.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::func::FuncDialect",
                           "::mlir::scf::SCFDialect"];
}

def ExternalizeWeightsPass
    : Pass<"compress-cpu-externalize-weights", "::mlir::ModuleOp"> {
  let summary = "Move large constants of @main into a weights buffer argument";
  let description = [{
    Gives `func.func @main` a new first argument, `memref<?xi8>` marked
    `compress.weights`, and replaces every constant tensor of at least
    `min-bytes` bytes by a view of that buffer at a 64-byte aligned offset
    (`memref.view` + `bufferization.to_tensor restrict`). Compiled code then
    takes its weights from an mmap-able file instead of holding them, so
    compile time and binary size do not grow with the model. The layout is
    recorded on the module as `compress.weights_layout` (name, offset, bytes
    per weight, and the total size); with `weights-file` the bytes are
    written there too.
  }];
  let options = [
    Option<"minBytes", "min-bytes", "int64_t", /*default=*/"256",
           "Constants smaller than this stay in the code">,
    Option<"weightsFile", "weights-file", "std::string", /*default=*/"\"\"",
           "Where to write the weights (nothing is written when empty)">,
  ];
  let dependentDialects = ["::mlir::memref::MemRefDialect",
                           "::mlir::bufferization::BufferizationDialect",
                           "::mlir::arith::ArithDialect"];
}

def ConvToIm2ColPass : Pass<"compress-cpu-conv-to-im2col"> {
  let summary = "Rewrite 2-D convolutions as an image-to-column gather and a product";
  let description = [{
    Turns `linalg.conv_2d_nchw_fchw` (ungrouped 2-D convolution, after
    padding) into a gather of the input's receptive fields into a
    [N, C*KH*KW, OH*OW] matrix and a product with the filter seen as
    [F, C*KH*KW], upstream's im2col rewrite. The product then reaches the
    matrix microkernel (with the filter packed once, as a constant), where a
    convolution loop nest would run as scalar code.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
}

def PrivatizeInitsPass : Pass<"compress-cpu-privatize-inits"> {
  let summary = "Give every linalg op its own copy of a shared fill or broadcast init";
  let description = [{
    CSE merges identical `linalg.fill` / `linalg.broadcast` results, so many
    ops end up accumulating into one shared init tensor; bufferization then
    copies that buffer before each of them. Re-creating the cheap producer
    next to each user lets every op write its own buffer in place.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
}

def ParallelizeOuterLoopsPass : Pass<"compress-cpu-parallelize-outer-loops"> {
  let summary = "Shape scf.parallel nests for threads outside and vectors inside";
  let description = [{
    Rewrites each outermost `scf.parallel` so that threads share its outer
    dimensions while its innermost dimension stays a sequential `scf.for`
    (which LLVM vectorises); a one-dimensional loop is split into chunks of
    `chunk` iterations shared by the threads. Nests of fewer than
    `min-iterations` iterations (sequential loops inside included), whose
    fork and join would cost more than they save, become sequential loops,
    as do `scf.parallel` ops nested inside others. `convert-scf-to-openmp` then makes the remaining parallel
    loops OpenMP work-sharing loops.
  }];
  let options = [
    Option<"minIterations", "min-iterations", "int64_t", /*default=*/"32768",
           "Nests with fewer iterations (when known) run sequentially">,
    Option<"chunk", "chunk", "int64_t", /*default=*/"4096",
           "Iterations per chunk of a one-dimensional parallel loop">,
  ];
  let dependentDialects = ["::mlir::scf::SCFDialect", "::mlir::arith::ArithDialect"];
}

def ApproximateMathPass : Pass<"compress-cpu-approximate-math"> {
  let summary = "Replace exp, erf, tanh and log by polynomial approximations";
  let description = [{
    Rewrites float32 `math.exp`, `math.expm1`, `math.erf`, `math.tanh`,
    `math.log` and `math.log1p` into upstream's polynomial approximations
    (errors of a few ulp), so that loops holding them vectorize instead of
    calling libm one element at a time (softmax, GELU, sigmoid).
  }];
  let dependentDialects = ["::mlir::math::MathDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::vector::VectorDialect"];
}

def ReassociateReductionsPass : Pass<"compress-cpu-reassociate-reductions"> {
  let summary = "Let floating-point reductions be reassociated and contracted";
  let description = [{
    Marks the floating-point arithmetic in the bodies of linalg ops that
    reduce with `fastmath<reassoc, contract>`. Sums, maxima and dot products
    then vectorize (partial sums per lane); the results differ from a strict
    left-to-right sum by rounding only, as in every vectorized runtime.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def FuseElementwisePass : Pass<"compress-cpu-fuse-elementwise"> {
  let summary = "Fuse elementwise linalg ops, but never into a reduction";
  let description = [{
    Upstream's elementwise fusion, restricted so that a producer is only
    fused into its single consumer, and only when that consumer's loops are
    all parallel. A producer with several users would be recomputed in each
    (along a residual stream, once per later layer). Fusing into a
    reduction (say, softmax's division into the attention product) would
    recompute the producer once per reduction step and hide the product from
    the microkernel.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

#endif
