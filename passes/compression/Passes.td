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

#endif
