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

    Activations: `mode=w8a8` quantizes every layer's input per row (token)
    to int8 at run time (scale max|x| / 127), so that CPU kernels multiply
    in integers (VNNI dot products). `mode=weight-only` keeps them in float
    for products of fewer than `int8-activation-rows` rows (default 16) and
    quantizes them per row from that many rows on, where integer products
    are several times faster; `int8-activation-rows=0` keeps them in float
    always (exact weight-only numerics), `=1` quantizes them always. The
    threshold is the `int8_activation_rows` attribute of each
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
           "weight-only (float activations, int8 from int8-activation-rows rows) or w8a8 "
           "(int8 activations always)">,
    Option<"int8ActivationRows", "int8-activation-rows", "int64_t", /*default=*/"16",
           "weight-only: products of at least this many rows quantize their activations "
           "per row to int8 (0: never)">,
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
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

#endif
