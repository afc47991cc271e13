// Compression passes: each rewrites `compress` ops into compressed forms.
#ifndef COMPRESS_PASSES_COMPRESSION_PASSES_TD
#define COMPRESS_PASSES_COMPRESSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def QuantizePass : Pass<"compress-quantize", "::mlir::ModuleOp"> {
  let summary = "Quantize the weights of linear layers to integers";
  let description = [{
    Rewrites every `compress.linear` whose weight is a float32 constant into
    `compress.quantized_linear` holding `bits`-bit integers (two per byte at
    4 bits or fewer) with one float32 scale per output channel
    (`group-size=0`) or per group of `group-size` input features, and, when
    asymmetric, one zero point per scale. Scales: symmetric ones are
    max|w| / (2^(bits-1) - 1/2), using all 2^bits levels -2^(bits-1) ..
    2^(bits-1) - 1; asymmetric ones (max - min) / (2^bits - 1) with the zero
    point rounding -min / scale.

    `method=rtn` rounds each weight to nearest. `method=gptq` (Frantar et
    al.) quantises column by column, spreading each column's rounding error
    over the columns not yet quantised through the inverse Hessian
    H = 2/n sum x x^T of the layer's inputs (`damp` times the mean diagonal
    added to it, 1% by default; blocks of 128 columns with lazy updates,
    group scales chosen as each group starts). H
    comes from the calibration statistics the tool installs (`--calibration`
    of compress-run and compress-compile), measured layer by layer as in the
    GPTQ reference: each layer's inputs are taken with the layers before it
    already quantised, so it compensates their error too.

    Layers whose location name matches `skip` (a regular expression) are left
    alone; `layer-bits` gives matching layers other bits and group sizes. With `report`, a JSON report is written: per layer its name,
    method, bits, group size, bytes before and after, the relative error
    of the weight (||W - deq(Q)|| / ||W||) and, when calibration data is
    given, the relative error of the layer's output on it
    (||X (W - deq(Q))^T|| / ||X W^T|| from the Hessian of its inputs X);
    totals for the model.

    Group sizes that do not divide K leave a partial last group (as
    onnxruntime's and llama.cpp's quantizers do). 3- and 2-bit codes are
    stored as 4-bit nibbles (the report's `stored_bits`).

    Pruned layers (`compress.sparse_linear` with float values, from
    compress-prune) keep their sparsity: `method=rtn` rounds their stored
    values to 8- or 4-bit codes with a scale per group of stored entries
    (`group-size` columns of an N:M layer hold group-size * N / M of them;
    an ELL layer's groups count entries). GPTQ would fill their zeros:
    compress-prune's `method=sparsegpt bits=` prunes and quantizes in one
    sweep instead.

    A weight several layers share (compress-share-blocks) is quantized
    once, by the first of them (GPTQ: with that layer's statistics), and the
    others asking for the same bits and group size use its codes: stored
    once, as the float weight was.

    Every layer the pass cannot quantize (a convolution, an embedding, a
    weight that is not a float32 constant, a layer already compressed) gets
    a warning and a report entry saying why.

    Activations: `mode=weight-only` (the default) keeps them in float at
    every batch size, so results never depend on how many rows a call
    multiplies. `mode=w8a8` (8-bit weights) and `mode=w4a8` (4-bit weights)
    quantize every layer's input per row (token) to int8 at run time (scale
    max|x| / 127), so that CPU kernels multiply in integers (VNNI dot
    products): the `int8_activations` attribute of each
    `compress.quantized_linear`.
  }];
  let options = [
    Option<"bits", "bits", "int64_t", /*default=*/"8", "Bits per weight: 8, 4, 3 or 2">,
    Option<"groupSize", "group-size", "int64_t", /*default=*/"0",
           "Input features per scale (0: one scale per output channel)">,
    Option<"symmetric", "symmetric", "bool", /*default=*/"true",
           "Signed integers around zero (else unsigned with zero points)">,
    Option<"method", "method", "std::string", /*default=*/"\"rtn\"", "rtn or gptq">,
    Option<"mode", "mode", "std::string", /*default=*/"\"weight-only\"",
           "weight-only (float activations), w8a8 or w4a8 (activations quantized per row "
           "to int8; 8- or 4-bit weights)">,
    Option<"skip", "skip", "std::string", /*default=*/"\"\"",
           "Regular expression: layers whose name matches stay in float">,
    Option<"actOrder", "act-order", "bool", /*default=*/"false",
           "GPTQ: quantise columns in decreasing order of the Hessian diagonal, with "
           "static group scales">,
    Option<"damp", "damp", "double", /*default=*/"0.01",
           "GPTQ: dampening added to the Hessian's diagonal, as a fraction of its mean "
           "(0 < damp <= 1)">,
    Option<"layerBits", "layer-bits", "std::string", /*default=*/"\"\"",
           "Per-layer overrides: REGEX:BITS[:GROUP] entries separated by ';' (the "
           "first whose regular expression matches the layer's name wins)">,
    Option<"progress", "progress", "bool", /*default=*/"false",
           "Print a line per layer as it is quantised">,
    Option<"report", "report", "std::string", /*default=*/"\"\"",
           "Where to write the JSON report (none when empty)">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::compress::CompressDialect"];
}

def PrunePass : Pass<"compress-prune", "::mlir::ModuleOp"> {
  let summary = "Prune the weights of linear layers: magnitude, Wanda, SparseGPT; unstructured, N:M, structured";
  let description = [{
    Sets weights of every `compress.linear` with a float32 constant weight to
    zero and stores what remains in a sparse form.

    Methods (`method=`):
    - `magnitude`: keeps the largest |w|, compared over the whole layer
      (unstructured, the papers' baseline) or within each N:M group;
    - `wanda` (Sun et al.): keeps the largest |w_ij| * ||x_j||_2, the L2
      norm of input feature j over the calibration tokens, compared per
      output row (unstructured) or per N:M group;
    - `sparsegpt` (Frantar & Alistarh): prunes column by column in blocks
      of `block-size` with lazy updates, selecting the mask adaptively per
      block (unstructured) or per N:M group, and compensating each
      column's error on the columns not yet visited through the inverse
      Hessian of the layer's inputs (measured layer by layer, each with the
      layers before it already pruned, as in the reference). With `bits`,
      it quantizes in the same sweep (SparseGPT's joint 2:4 + 4-bit).

    Patterns (`pattern=`): `unstructured` with `sparsity=S` (the fraction of
    weights set to zero, in [0, 1); per layer through `layer-sparsity`, or
    spread across layers by `allocate=owl`); `N:M` (`2:4`, `4:8`: N of
    every M consecutive input features stay; M must divide K); `structured`
    (removes whole MLP intermediate channels, attention head groups and
    convolution output channels, `sparsity` of them, ranked by their
    activations' L2 norm on the calibration data, and shrinks every op
    between producer and consumer: the model becomes smaller dense ops).

    `allocate=owl` (Outlier Weighed Layerwise sparsity, Yin et al.): each
    layer's outlier ratio D (the fraction of its Wanda scores above
    `owl-threshold` times their mean) is measured on the unpruned model;
    layers get sparsity S - (R - mean R) with R = 2 * `owl-lambda` *
    (D - min D) / (max D - min D), the mean weighted by parameters, so the
    model's sparsity stays S and layers with more outliers are pruned less.
    OWL ranks whole transformer blocks; this ranks each layer.

    Storage (`format=`): N:M layers become `compress.sparse_linear` N:M;
    unstructured layers become ELL `compress.sparse_linear` when its
    entries per row (the largest row) are at most `ell-max-density` of K,
    the measured break-even of the CPU kernels (docs/benchmarks.md), else
    stay dense `compress.linear` with zeros: `format=auto`. `format=sparse`
    and `format=dense` force one. The report says which and why. With
    `bits` (8 or 4; `group-size`, `symmetric`, `mode` as in
    compress-quantize), values are stored as integer codes: N:M layers as
    a quantized `compress.sparse_linear` (group sizes must be multiples of
    M), unstructured ones as a dense `compress.quantized_linear` whose
    pruned codes dequantise to exactly 0. magnitude and wanda round to
    nearest after pruning.

    The report (`report=PATH`): per layer its name, method, pattern,
    target and achieved sparsity, format, bytes before and after, and with
    calibration data the layer's relative output error on it. With
    `pattern=structured`, per structure (named by its consumer) its kind,
    producers, channels and parameters before and after, the channels
    removed, and `layer_bytes`: each of its layers' weight bytes before
    and after.
  }];
  let options = [
    Option<"method", "method", "std::string", /*default=*/"\"magnitude\"",
           "magnitude, wanda or sparsegpt">,
    Option<"pattern", "pattern", "std::string", /*default=*/"\"unstructured\"",
           "unstructured, N:M (2:4, 4:8, ...) or structured">,
    Option<"sparsity", "sparsity", "double", /*default=*/"0.5",
           "Fraction of weights (structured: of channels) removed, in [0, 1)">,
    Option<"layerSparsity", "layer-sparsity", "std::string", /*default=*/"\"\"",
           "Per-layer sparsity: REGEX:S entries separated by ';' (the first match wins)">,
    Option<"allocate", "allocate", "std::string", /*default=*/"\"uniform\"",
           "uniform, or owl (sparsity per layer by outlier ratio; unstructured)">,
    Option<"owlLambda", "owl-lambda", "double", /*default=*/"0.08",
           "OWL: half the spread of sparsities between layers">,
    Option<"owlThreshold", "owl-threshold", "double", /*default=*/"5",
           "OWL: a score above this many times the layer's mean is an outlier">,
    Option<"structuredTargets", "structured-targets", "std::string", /*default=*/"\"\"",
           "Structured: comma-separated subset of mlp, heads, conv (default all)">,
    Option<"format", "format", "std::string", /*default=*/"\"auto\"",
           "auto, sparse or dense storage of pruned weights">,
    Option<"ellMaxDensity", "ell-max-density", "double", /*default=*/"0.35",
           "format=auto: largest row density stored as ELL (the kernels' break-even)">,
    Option<"bits", "bits", "int64_t", /*default=*/"0",
           "Also quantize the kept weights to 8 or 4 bits (0: keep float)">,
    Option<"groupSize", "group-size", "int64_t", /*default=*/"0",
           "With bits: input features per scale (0: one per output channel)">,
    Option<"symmetric", "symmetric", "bool", /*default=*/"true",
           "With bits: signed codes around zero (else unsigned with zero points)">,
    Option<"mode", "mode", "std::string", /*default=*/"\"weight-only\"",
           "With bits: weight-only, w8a8 or w4a8 (int8 activations)">,
    Option<"blockSize", "block-size", "int64_t", /*default=*/"128",
           "SparseGPT: columns per block of lazy updates and mask selection">,
    Option<"damp", "damp", "double", /*default=*/"0.01",
           "SparseGPT: dampening of the Hessian's diagonal, a fraction of its mean">,
    Option<"skip", "skip", "std::string", /*default=*/"\"\"",
           "Regular expression: layers whose name matches stay dense">,
    Option<"progress", "progress", "bool", /*default=*/"false",
           "Print a line per layer as it is pruned">,
    Option<"report", "report", "std::string", /*default=*/"\"\"",
           "Where to write the JSON report (none when empty)">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::compress::CompressDialect"];
}

def FactorizePass : Pass<"compress-factorize", "::mlir::ModuleOp"> {
  let summary = "Factorize linear layers into low-rank products (SVD, SVD-LLM, FWSVD), or compensate compressed ones (EoRA)";
  let description = [{
    Replaces the [N, K] weight W of every `compress.linear` with a float32
    constant weight by `up` [N, r] times `down` [r, K]
    (`compress.low_rank_linear`), cut from a weighted SVD of W:

    - `svd`: plain truncated SVD (minimises ||W - U V||);
    - `activation-aware` (SVD-LLM's truncation-aware whitening, the
      default): SVD of W S, S the Cholesky factor of the Gram matrix
      H = (2/n) X^T X of the layer's n calibration input rows (GPTQ's
      Hessian; the factor 2/n changes no product), so that truncation
      minimises the layer's output error ||X (W - U V)^T|| (each layer
      measured with the layers before it already factorized);
    - `fisher` (FWSVD): SVD of diag(sqrt(I)) W with row importances I read
      from `importance=DIR` (DIR/NAME.npy, NAME the layer's name with
      characters other than letters, digits, '.', '-', '_' replaced by
      '_'; shape [N], or [N, K] summed per row: e.g. squared gradients).
      Without files, an activation proxy: W diag(sqrt(E[x_j^2])), the
      diagonal Fisher information under uniform output gradients (ASVD's
      scaling); the report names which.

    The rank of each layer: `ratio=` (fraction of its parameters kept,
    r = floor(ratio N K / (N + K))), `energy=` (smallest r keeping that
    fraction of the weighted spectrum's sum of squared singular values),
    `rank=`, or `budget=` (fraction of all factorized layers' parameters
    kept): every layer's relative output error on the calibration data is
    measured at every rank first, then ranks minimise the sum of their
    squares (layers' errors add in quadrature) within the budget, a layer
    kept dense where that pays (the sensitivity-based allocation of ASVD
    and SVD-LLM). A layer whose rank saves nothing (r (N + K) >= N K)
    stays dense; the report says why.

    `compensate=1` (EoRA) instead adds a rank-r path to each layer another
    pass of this run quantized or pruned: the SVD (weighted as above; EoRA
    is `activation-aware`, whose whitening yields the same optimum as
    EoRA's eigenspace projection) of the compression error W - W', added
    as a `compress.low_rank_linear` whose addend is the compressed layer's
    output. Rank by `rank=` or `budget=` (the fraction of the layers' N K
    added). All layers are measured on the compressed model before any
    path is added. A float layer has nothing to compensate (an error:
    skip it); a compressed layer the pass cannot find the float weight of
    (compressed in another run) is an error too.

    `bits=8|4` stores both factors as symmetric integer codes with a scale
    per row (`group-size=0`) or per group of their input features.

    What a layer needed to be usable is said on stderr and in its report
    entry: a singular Gram matrix whitened with the least dampening that
    works (`gram_dampening`, a fraction of its mean diagonal), importance
    weights below 1e-6 of the largest raised to it (`raised_weights`), a
    ratio that keeps less than rank 1 (rank 1 kept); a budget that rank 1
    everywhere exceeds is a warning.

    The report (`report=PATH`): per layer the method and weighting, rank,
    retained energy, parameters and bytes before and after (compensation:
    the bytes it adds), the relative weight error and, with calibration
    data, the relative output error (before and after compensation).
  }];
  let options = [
    Option<"method", "method", "std::string", /*default=*/"\"activation-aware\"",
           "svd, activation-aware or fisher">,
    Option<"ratio", "ratio", "double", /*default=*/"0",
           "Fraction of each layer's parameters kept, in (0, 1]">,
    Option<"energy", "energy", "double", /*default=*/"0",
           "Fraction of the weighted spectrum's energy kept, in (0, 1]">,
    Option<"rank", "rank", "int64_t", /*default=*/"0", "Rank of every layer">,
    Option<"budget", "budget", "double", /*default=*/"0",
           "Fraction of all the layers' parameters kept (compensate: added), allocated by "
           "output error">,
    Option<"compensate", "compensate", "bool", /*default=*/"false",
           "Add a low-rank path cancelling the error of layers already quantized or pruned "
           "(EoRA)">,
    Option<"importance", "importance", "std::string", /*default=*/"\"\"",
           "method=fisher: folder of per-layer row importances (NAME.npy)">,
    Option<"bits", "bits", "int64_t", /*default=*/"0",
           "Store the factors as 8- or 4-bit codes (0: float)">,
    Option<"groupSize", "group-size", "int64_t", /*default=*/"0",
           "With bits: input features per scale (0: one per row)">,
    Option<"skip", "skip", "std::string", /*default=*/"\"\"",
           "Regular expression: layers whose name matches are left alone">,
    Option<"progress", "progress", "bool", /*default=*/"false",
           "Print a line per layer as it is factorized">,
    Option<"report", "report", "std::string", /*default=*/"\"\"",
           "Where to write the JSON report (none when empty)">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::compress::CompressDialect"];
}

def FindBlocksPass : Pass<"compress-find-blocks", "::mlir::ModuleOp"> {
  let summary = "Find the repeated blocks (transformer layers) of a model and measure their importance";
  let description = [{
    Finds the model's repeated blocks by structure: the residual stream is
    the chain of values every path to the model's output passes through
    (their post-dominators in @main); it cuts the model into segments, and
    the blocks are the run of consecutive segments that repeats with the
    same ops, types and attributes (weights apart) covering the most layers.
    Each op of block `i` gets the attribute `compress.block = i`; ops
    outside the blocks (embeddings, masks, rotary tables, the head) get
    none. A model without repeated blocks gets a warning and is left as it
    is.

    With calibration data the report gives, per block, its Block Influence
    (ShortGPT: 1 - the mean cosine similarity over tokens between the
    hidden state it reads and the one it writes) and, with `removal`, what
    removing the block alone changes (1 - the mean cosine similarity over
    tokens of the hidden state after the last block, with and without it;
    one compilation of the model per block).
  }];
  let options = [
    Option<"removal", "removal", "bool", /*default=*/"false",
           "With calibration data: also measure the change of removing each block alone">,
    Option<"report", "report", "std::string", /*default=*/"\"\"",
           "Where to write the JSON report (none when empty)">,
  ];
  let dependentDialects = ["::compress::CompressDialect"];
}

def DropBlocksPass : Pass<"compress-drop-blocks", "::mlir::ModuleOp"> {
  let summary = "Remove whole repeated blocks, chosen by importance on calibration data or listed";
  let description = [{
    Removes `count` blocks (or `ratio` of them, rounded to the nearest
    count) of those compress-find-blocks finds, the least important first
    by `metric`: `influence` (Block Influence, ShortGPT) or `removal` (the
    measured change of removing each block alone), both on the calibration
    data the tool gives; or exactly the blocks `blocks` lists (indices from
    0, no calibration needed). A removed block's output is replaced by its
    input on the residual stream; the results of @main only it computed and
    the arguments only it read (a key/value cache's present and past
    tensors) leave the interface. The report lists each block with its
    importance and whether it was dropped, the results and arguments
    removed, and the blocks that remain.

    Errors: none or more than one of `count`, `ratio` and `blocks`; a count
    that leaves no block; a ratio outside (0, 1); an index out of range or
    repeated; `metric` other than influence or removal, or no calibration
    data for it; a model whose blocks cannot be found.
  }];
  let options = [
    Option<"count", "count", "int64_t", /*default=*/"0", "Blocks to remove">,
    Option<"ratio", "ratio", "double", /*default=*/"0", "Fraction of the blocks to remove">,
    ListOption<"blocks", "blocks", "int64_t", "Indices of the blocks to remove">,
    Option<"metric", "metric", "std::string", /*default=*/"\"influence\"",
           "How blocks are ranked: influence or removal">,
    Option<"report", "report", "std::string", /*default=*/"\"\"",
           "Where to write the JSON report (none when empty)">,
  ];
  let dependentDialects = ["::compress::CompressDialect"];
}

def OutlineBlocksPass : Pass<"compress-outline-blocks", "::mlir::ModuleOp"> {
  let summary = "Make each repeated block a function with its weights as operands";
  let description = [{
    Moves the ops of each block compress-find-blocks finds into a private
    function `@block_<i>` (attribute `compress.block = i`) whose operands
    are the block's residual-stream input, then every other value it reads
    from @main (its weights, masks, rotary tables, a key/value cache's past
    tensors) in the order it first reads them, and whose results are its
    output on the residual stream, then every other value @main reads from
    it (a cache's present tensors). @main calls the functions in order.
    Weights stay constants of @main, so a weight shared by several blocks
    stays one value passed to each call. `compress-inline-blocks` (the
    first step of every target's lowering) restores the flat model.

    Compression passes work on the flat model: run them before this pass
    (a layer whose weight is a function operand is not a constant to them).

    Errors: a model whose blocks cannot be found; an op of @main outside a
    block that reads a value of the block before the block's last op.
  }];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

def ShareBlocksPass : Pass<"compress-share-blocks", "::mlir::ModuleOp"> {
  let summary = "Share one weight set across groups of neighbouring blocks, with per-block corrections (FoldGPT)";
  let description = [{
    Groups the blocks `first` to `last` (of those compress-find-blocks
    finds) into runs of `group` neighbours; within a group every layer
    position runs one shared weight, a single constant in the IR (stored
    once in the weights file, quantized once by compress-quantize).

    The shared weight (`merge=`): `mean` (the default) averages the
    group's weights; `least-squares` minimises the group's output error on
    the calibration data,
    sum_b ||X_b (W - W_b)^T||^2 over the group's blocks b, in closed form:
    W = (sum_b W_b H_b + d W0) (sum_b H_b + d I)^-1 with H_b = X_b^T X_b,
    damped toward the mean W0 by d, 1% of the mean diagonal (each group
    measured with the groups before it already shared; the mean where the
    calibration inputs are all zero, as the report says), which fits the
    calibration windows but generalises worse than the mean on SmolLM2
    (docs/benchmarks.md); `first` keeps the first block's. With `corrections=scales` (the default) each block's layer
    gets a scale per output channel fitted in closed form on its
    calibration inputs (the least-squares s_n of s_n (w_n . x) against
    w_b,n . x), applied by an elementwise product after the shared layer
    (1 for a channel no calibration input reaches, counted in the report as
    `unfitted_channels`); `corrections=none` adds none.

    Errors: a group smaller than 2; a range outside the model's blocks or
    one `group` does not divide (unless `remainder=unshared` leaves the
    last blocks as they are); a layer that is not a float32 linear layer
    (share before quantizing); `merge=least-squares` or scales without
    calibration data; a model whose blocks cannot be found. The report gives
    each group, each position's layers and their relative output error on
    the calibration data with the shared weight and with its scales, and
    the bytes saved.
  }];
  let options = [
    Option<"group", "group", "int64_t", /*default=*/"2", "Blocks per group">,
    Option<"first", "first", "int64_t", /*default=*/"0", "First block shared">,
    Option<"last", "last", "int64_t", /*default=*/"-1", "Last block shared (-1: the last block)">,
    Option<"remainder", "remainder", "std::string", /*default=*/"\"error\"",
           "When group does not divide the range: error, or unshared (the last blocks stay as "
           "they are)">,
    Option<"merge", "merge", "std::string", /*default=*/"\"mean\"",
           "The shared weight: mean, least-squares or first">,
    Option<"corrections", "corrections", "std::string", /*default=*/"\"scales\"",
           "Per-block corrections: scales (per output channel) or none">,
    Option<"report", "report", "std::string", /*default=*/"\"\"",
           "Where to write the JSON report (none when empty)">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect", "::compress::CompressDialect"];
}

def TokenSkipPass : Pass<"compress-token-skip", "::mlir::ModuleOp"> {
  let summary = "Per-token routers that let tokens skip blocks (FTP), fitted without training";
  let description = [{
    Puts a router before each of the blocks `first` to `last` (of those
    compress-find-blocks finds; by default all but the first and the last):
    `compress.route_tokens` decides per token whether the block runs
    (w . x / rms(x) + s * ln(rms(x)) >= threshold), and `compress.select_tokens` takes the
    block's output at kept tokens and its input at the others (a skipped
    token passes through on the residual stream unchanged).

    Routers (`router=`): `fitted` (the default) predicts the logarithm of
    each token's relative update ||block(x) - x|| / ||x|| by least squares
    on the normalised hidden state and the logarithm of its scale, measured
    on the calibration data; `random`
    draws the weights from a Gaussian (`seed=`), the baseline at the same
    skip rates. The schedule spreads `skip`, the fraction of the routed
    blocks' tokens to skip, over the blocks: the tokens with the smallest
    measured updates over all routed blocks are skipped, so a block that
    changes its tokens little skips more (`schedule=uniform`: `skip` in
    every block); each block's threshold is the
    quantile of its router's scores that skips its share of its calibration
    tokens. With `fit=sequential` (the default) each block's router is
    fitted on the hidden states the routers before it leave (one
    calibration run per routed block; on SmolLM2 this beats fitting every
    router on the unrouted model, docs/benchmarks.md); `fit=once` measures
    every block once, on the unrouted model. `routers=FILE` instead reads
    trained routers from a .npy [blocks, width + 1] (per routed block its
    weights, then its threshold) or [blocks, width + 2] (the weights, the
    scale weight s, the threshold); no calibration needed. `skip=0` keeps every token (thresholds -inf):
    outputs equal the unrouted model's.

    Attention: by default a skipped token still serves as key and value
    from its current hidden state (its key and value projections run, so a
    causal model stays causal, and a decode step with a key/value cache
    writes for a skipped token the cache entry a full prefill computes:
    the router reads only the token itself). `skip-kv=true` also hides
    skipped tokens from the block's queries: the block's additive attention
    mask [.., T, T] gets -inf at their keys (models without a cache).

    On the CPU and CUDA targets compress-compact-tokens runs each routed
    block's query, output and MLP layers on the kept tokens only.

    Errors: `skip` outside [0, 1); a block range outside the model's; a
    routers file of another shape; fitting without calibration data; a model
    without discoverable blocks; `skip-kv=true` on a model with a cache or
    without one attention mask per block. The report gives per routed block
    its calibration skip rate, its threshold, its tokens' mean relative
    update and the correlation of the router's score with its logarithm.
  }];
  let options = [
    Option<"skip", "skip", "double", /*default=*/"0.3",
           "Fraction of the routed blocks' tokens to skip, in [0, 1)">,
    Option<"first", "first", "int64_t", /*default=*/"1", "First routed block">,
    Option<"last", "last", "int64_t", /*default=*/"-1",
           "Last routed block (-1: the one before the last block)">,
    Option<"router", "router", "std::string", /*default=*/"\"fitted\"",
           "fitted (least squares on calibration data) or random (Gaussian weights)">,
    Option<"seed", "seed", "uint64_t", /*default=*/"0", "Seed of router=random">,
    Option<"fit", "fit", "std::string", /*default=*/"\"sequential\"",
           "sequential (each block measured with the routers before it in place, one "
           "calibration run per routed block) or once (every block on the unrouted model)">,
    Option<"schedule", "schedule", "std::string", /*default=*/"\"updates\"",
           "Per-block skip rates: updates (the tokens of smallest measured update over all "
           "routed blocks skip) or uniform (skip in every block)">,
    Option<"routersFile", "routers", "std::string", /*default=*/"\"\"",
           "A .npy of trained routers [blocks, width + 1] (weights, threshold) or [blocks, "
           "width + 2] (weights, scale weight, threshold) instead of fitting">,
    Option<"skipKv", "skip-kv", "bool", /*default=*/"false",
           "Skipped tokens no longer serve as keys and values in the blocks they skip">,
    Option<"report", "report", "std::string", /*default=*/"\"\"",
           "Where to write the JSON report (none when empty)">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect", "::compress::CompressDialect"];
}

#endif
