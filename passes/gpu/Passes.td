// CUDA code-generation passes: what takes bufferized linalg to kernels the
// upstream gpu and nvvm conversions accept, and compiled host code to the
// CUDA runtime's device memory.
#ifndef COMPRESS_PASSES_GPU_PASSES_TD
#define COMPRESS_PASSES_GPU_PASSES_TD

include "mlir/Pass/PassBase.td"

def GpuForwardFillsPass : Pass<"compress-gpu-forward-fills", "::mlir::func::FuncOp"> {
  let summary = "Fill copies of a filled buffer in place of copying it";
  let description = [{
    Runs on memrefs, after bufferization. Bufferization gives the ops that
    share one filled tensor (the zero init of every matrix product, a
    reduction's start value) one filled buffer and a `memref.copy` of it
    each: two kernels per use on the GPU. A copy from an allocation that
    only a `linalg.fill` writes (its other uses: such copies and its
    dealloc) becomes a `linalg.fill` of the destination with the same value,
    and the source, no longer read, goes. A fill just before a product or a
    reduction then folds into it (compress-gpu-contraction-to-kernel,
    compress-gpu-block-reductions): no kernel is left for the init.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect", "::mlir::memref::MemRefDialect"];
}

def GpuFoldTransposesPass : Pass<"compress-gpu-fold-transposes", "::mlir::func::FuncOp"> {
  let summary = "Read transposed copies in place";
  let description = [{
    Runs on memrefs, after bufferization. A `linalg.transpose` into an
    allocation that only `linalg.generic` ops read (after it, in its block,
    with nothing writing its source in between) goes: each reader's indexing
    map for the copy is composed with the permutation and the reader reads
    the source. A matrix product then reads its operand strided, which the
    runtime's GEMM takes as a transposed operand; attention's K^T stops
    copying the whole key cache every decode step.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect", "::mlir::memref::MemRefDialect"];
}

def GpuPrepareLoopsPass : Pass<"compress-gpu-prepare-loops", "::mlir::func::FuncOp"> {
  let summary = "Shape bufferized linalg for one GPU thread per output element";
  let description = [{
    Runs on memrefs, before convert-linalg-to-parallel-loops. Every
    `memref.copy` becomes a `linalg.copy` (a kernel: on the CUDA target all
    buffers are device memory, which the host never touches); named linalg
    ops are generalized and their reduction dimensions moved innermost, so
    that each becomes one parallel loop over its outputs with the reduction
    as a sequential loop inside (one thread per output element).
    `memref.alloca` becomes `memref.alloc` (the host stack is no place for
    a kernel's data). A quantized or sparse layer's loop that asks for int8
    activations is an error: its loop would compute with float activations.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect", "::mlir::memref::MemRefDialect"];
}

def GpuBlockReductionsPass : Pass<"compress-gpu-block-reductions", "::mlir::func::FuncOp"> {
  let summary = "Run reductions with few outputs as a thread block per output";
  let description = [{
    Runs on memrefs, after compress-gpu-prepare-loops. A `linalg.generic`
    with one output, one reduction dimension (innermost) and a payload that
    folds a value into the output with an associative op (add, mul, min,
    max, and, or) becomes a parallel loop over its outputs mapped to blocks,
    holding a parallel loop over 32 to 256 threads: each thread folds a
    strided share of the reduced dimension (coalesced loads), the block
    combines the shares with `gpu.all_reduce`, and thread 0 folds the total
    into the output. Taken when the reduced dimension has at least
    `min-extent` elements (or an unknown count) and the outputs number at
    most `max-outputs` (or an unknown count): norms, softmax and pooling
    over long rows, where one thread per output would walk a whole row
    alone. Sums are reassociated (a tree across threads instead of one
    sequential chain).
  }];
  let options = [
    Option<"minExtent", "min-extent", "int64_t", /*default=*/"32",
           "fewest reduced elements per output worth a block">,
    Option<"maxOutputs", "max-outputs", "int64_t", /*default=*/"262144",
           "most outputs (blocks) worth a block each">,
  ];
  let dependentDialects = ["::mlir::affine::AffineDialect", "::mlir::arith::ArithDialect",
                           "::mlir::gpu::GPUDialect", "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect"];
}

def GpuContractionToKernelPass
    : Pass<"compress-gpu-contraction-to-kernel", "::mlir::ModuleOp"> {
  let summary = "Replace matrix products on buffers by the CUDA runtime's kernels";
  let description = [{
    Runs after bufferization. Finds float32 `linalg` contractions on memrefs
    (one reduction dimension, up to three batch dimensions, plain or
    broadcast indexing: the products compress-cpu-contraction-to-microkernel
    takes) and replaces each with a call of the CUDA runtime's
    `compress_cuda_contract_f32` (C[b, m, n] += sum_k A[b, m, k] * B[b, k, n]
    on the device buffers: cuBLASLt where installed, else the runtime's
    batched, strided GEMM kernels, lib/runtime/cuda/Contraction.cu), or with
    `precision=f16` of `compress_cuda_contract_f16` (cuBLASLt on fp16
    tensor cores, fp32 sums). Marked
    quantized products (weight-only `compress.quantized_linear`, the
    dialect's row-major codes) become calls of
    `compress_cuda_quantized_linear_f32` (lib/runtime/cuda/QuantizedLinear.cu:
    the kernels decode the weight in float32) with the CPU microkernel's
    arguments; with `precision=f16`, of `compress_cuda_quantized_linear_f16`,
    which runs 4-bit symmetric layers in groups of 128 on the int4
    tensor-core kernel (Int4Linear.cu: inputs rounded to fp16, fp32
    accumulation). Products reading a global (a constant too small for the
    weights file, which stays in host memory) and those it cannot express
    stay loops (one thread per output).
  }];
  let options = [
    Option<"precision", "precision", "std::string", /*default=*/"\"f32\"",
           "f32, or f16: int4 layers on fp16 tensor cores">,
  ];
  let dependentDialects = ["::mlir::func::FuncDialect", "::mlir::memref::MemRefDialect",
                           "::mlir::arith::ArithDialect"];
}

def GpuMapLoopsPass : Pass<"compress-gpu-map-loops", "::mlir::func::FuncOp"> {
  let summary = "Map every loop that touches memory to a GPU grid";
  let description = [{
    Runs after convert-linalg-to-parallel-loops, before
    convert-parallel-loops-to-gpu. Each outermost `scf.parallel` is collapsed
    to one dimension (its last dimension fastest, so neighbouring threads
    touch neighbouring elements), tiled by `block-size` and mapped to blocks
    (x) and threads (x); nested parallel loops run sequentially in their
    thread. Runs of other top-level ops that read or write memory (a
    reduction to a scalar, a copy of one element) are wrapped in a
    one-thread parallel loop, so that no host code touches device memory.
    `memref.get_global` (or a `select` between two, an If choosing a
    constant) is cloned into each loop that reads it, so that the kernel
    outlining copies the (small) constant into the device module. An
    `scf.if` on a condition the host holds stays host code, and the loops of
    its branches are mapped the same way. A value read from memory and used
    by the host is an error.
  }];
  let options = [
    Option<"blockSize", "block-size", "int64_t", /*default=*/"256",
           "threads per block of the mapped loops">,
  ];
  let dependentDialects = ["::mlir::scf::SCFDialect", "::mlir::gpu::GPUDialect"];
}

def GpuHostShapesPass : Pass<"compress-gpu-host-shapes", "::mlir::func::FuncOp"> {
  let summary = "Keep the small index buffers that host code reads in host memory";
  let description = [{
    Runs after convert-linalg-to-parallel-loops, before compress-gpu-map-loops.
    Host code reads a few buffers itself: the shape operand of a
    `memref.reshape` to a shape known only at run time, and the sizes it
    allocates with. Three kinds are kept on the host:
    - a buffer the host fills with values it computed (a shape built from
      `tensor.dim` and arithmetic: an alloc whose only users are top-level
      stores of host values, loads and reshapes) becomes a `memref.alloca`;
    - an input of at most `max-elements` elements that the host loads from
      (a shape given as a graph input) is copied to a host buffer on entry
      by `compress_cuda_copy_to_host(host, device, bytes)`, and the host's
      loads read the copy;
    - one element of a device buffer that host code needs (a count a kernel
      computed, such as the number of tokens a router kept, that sizes an
      allocation or a loop, or an If's condition) is copied to a host buffer by the same call
      just before the host reads it (the copy waits for the kernels before
      it; a model with such a read is not recorded as a CUDA graph).
    compress-gpu-map-loops leaves loads and stores of host buffers on the host.
  }];
  let options = [
    Option<"maxElements", "max-elements", "int64_t", /*default=*/"64",
           "largest input copied to the host for the host's reads">,
  ];
  let dependentDialects = ["::mlir::func::FuncDialect", "::mlir::memref::MemRefDialect",
                           "::mlir::arith::ArithDialect"];
}

def GpuLowerIndexChecksPass : Pass<"compress-gpu-lower-index-checks", "::mlir::ModuleOp"> {
  let summary = "Lower compress.check_index to a compare and a device status word";
  let description = [{
    Runs on memrefs, after bufferization. Replaces each `compress.check_index`
    by: the index wrapped when negative; when it is still outside
    [0, extent), index 0 instead (the lookup reads in bounds) and, for the
    first failing check of a run, its site number + 1, the index and the
    extent written to a three-word status buffer that @main allocates and
    zeroes on entry (an atomic compare-and-swap on the first word picks the
    first). Before @main returns, it calls
    `compress_cuda_index_status(status)`, which reads the buffer back and
    reports the failure as the CPU runtime does, so that the run fails
    naming the site. Sites are numbered in module order and recorded as
    `compress.index_sites`, as on the CPU.
  }];
  let dependentDialects = ["::mlir::func::FuncDialect", "::mlir::memref::MemRefDialect",
                           "::mlir::linalg::LinalgDialect", "::mlir::scf::SCFDialect"];
}

def GpuProgrammaticLaunchPass
    : Pass<"compress-gpu-programmatic-launch", "::mlir::gpu::GPUModuleOp"> {
  let summary = "Let each kernel start while the one before it drains";
  let description = [{
    Runs on outlined kernels, after nvvm-attach-target. For a chip of
    compute capability 9.0 or later (the module's NVVM target), every
    kernel begins with `griddepcontrol.wait` (it reads nothing before the
    kernels it depends on have finished and their writes are visible) and
    `griddepcontrol.launch_dependents` (the next kernel may be scheduled
    once every block of this one has started). The CUDA runtime launches
    compiled kernels as programmatic dependent launches
    (`CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION`), so a kernel's
    launch, block scheduling and argument loads overlap the tail of the
    kernel before it: a decode step is dozens of small kernels, where that
    latency is much of the time. Modules for older chips are left alone.
  }];
  let dependentDialects = ["::mlir::NVVM::NVVMDialect"];
}

def GpuDeviceAllocatorPass : Pass<"compress-gpu-device-allocator", "::mlir::ModuleOp"> {
  let summary = "Allocate compiled host code's buffers in device memory";
  let description = [{
    Runs after finalize-memref-to-llvm{use-generic-functions}: renames the
    generic allocation functions it calls (`_mlir_memref_to_llvm_alloc`,
    `_mlir_memref_to_llvm_aligned_alloc`, `_mlir_memref_to_llvm_free`) to
    the CUDA runtime's `compress_cuda_alloc`, `compress_cuda_aligned_alloc`
    and `compress_cuda_free`, which allocate stream-ordered on the run's
    stream. Distinct names keep a CUDA artifact's allocator apart from the
    CPU runtime's in one process.
  }];
}

#endif
