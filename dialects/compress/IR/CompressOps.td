// Ops of the `compress` dialect.
#ifndef COMPRESS_OPS_TD
#define COMPRESS_OPS_TD

include "dialects/compress/IR/CompressBase.td"
include "dialects/compress/IR/CompressInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/CommonAttrConstraints.td"

// Every op here is a layer that compression passes match.
defvar Layer = DeclareOpInterfaceMethods<Compress_CompressibleLayerInterface>;

def Compress_LinearOp : Compress_Op<"linear", [Pure, Layer]> {
  let summary = "Dense linear layer: output = input * transpose(weight) + bias";
  let description = [{
    Multiplies the last dimension of `input` (K) by a weight of shape [N, K]
    (output features first, as in PyTorch and GPTQ, so that per-output-channel
    and per-group quantization walk contiguous rows) and adds an optional bias
    of shape [N]. Leading dimensions of `input` are batch dimensions.

    ```mlir
    %y = compress.linear %x, %w, %b
        : tensor<?x16x384xf32>, tensor<1536x384xf32>, tensor<1536xf32>
        -> tensor<?x16x1536xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, AnyRankedTensor:$weight,
                       Optional<AnyRankedTensor>:$bias);
  let results = (outs AnyRankedTensor:$output);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? attr-dict `:` type($input) `,`
    type($weight) (`,` type($bias)^)? `->` type($output)
  }];
  let hasVerifier = 1;
}

def Compress_Conv2DOp : Compress_Op<"conv2d", [Pure, Layer]> {
  let summary = "2-D convolution over NCHW input with an FCHW weight";
  let description = [{
    Grouped 2-D convolution. `input` is [N, C, H, W], `weight` is
    [F, C / groups, KH, KW], the optional `bias` is [F]. `padding` is
    [top, left, bottom, right] with zeros.

    ```mlir
    %y = compress.conv2d %x, %w, %b {strides = array<i64: 2, 2>,
        padding = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>,
        groups = 1 : i64}
        : tensor<1x3x224x224xf32>, tensor<64x3x3x3xf32>, tensor<64xf32>
        -> tensor<1x64x112x112xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, AnyRankedTensor:$weight,
                       Optional<AnyRankedTensor>:$bias,
                       DenseI64ArrayAttr:$strides, DenseI64ArrayAttr:$padding,
                       DenseI64ArrayAttr:$dilations, I64Attr:$groups);
  let results = (outs AnyRankedTensor:$output);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? attr-dict `:` type($input) `,`
    type($weight) (`,` type($bias)^)? `->` type($output)
  }];
  let hasVerifier = 1;
}

def Compress_EmbeddingOp : Compress_Op<"embedding", [Pure, Layer]> {
  let summary = "Embedding lookup: rows of a [V, D] table picked by indices";
  let description = [{
    For every element of `indices` (an integer tensor; negative values count
    from the end, as in ONNX Gather) picks a row of `table`, so the output
    shape is indices' shape followed by D.

    ```mlir
    %e = compress.embedding %table[%ids]
        : tensor<30522x384xf32>, tensor<?x?xi64> -> tensor<?x?x384xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$table, AnyRankedTensor:$indices);
  let results = (outs AnyRankedTensor:$output);
  let assemblyFormat = [{
    $table `[` $indices `]` attr-dict `:` type($table) `,` type($indices)
    `->` type($output)
  }];
  let hasVerifier = 1;
}

def Compress_QuantizedLinearOp : Compress_Op<"quantized_linear",
    [Pure, AttrSizedOperandSegments,
     DeclareOpInterfaceMethods<Compress_CompressibleLayerInterface, ["isCompressedLayer"]>]> {
  let summary = "Linear layer with an integer weight, dequantised per channel or group";
  let description = [{
    `output = input * transpose(dequantize(weight)) + bias`, where the [N, K]
    weight (K = `in_features`) is held as `bits`-bit integers: one per byte
    for 8 bits, two per byte for 4 bits or fewer (element 2j in the low
    nibble, 2j+1 in the high one). Row n, column k dequantises as
    `(q[n, k] - zero_points[n, g]) * scales[n, g]` with `g = k / group_size`
    (`group_size` = K for one scale per output channel). When `group_size`
    does not divide K the last group is partial: scales have
    ceil(K / group_size) columns. Without zero points the integers are
    signed (symmetric quantisation); with them, unsigned.

    `int8_activations` makes the product quantise its input per row (token)
    to int8 first, at every number of rows: scale max|x| / 127, values
    round-to-nearest-even of x / scale (W8A8, W4A8). Without it the input
    stays in floating point (weight-only): the numerics never depend on how
    many rows a call multiplies.

    ```mlir
    %y = compress.quantized_linear %x, %q, %scales {bits = 8 : i64, group_size = 384 : i64, in_features = 384 : i64}
        : tensor<?x384xf32>, tensor<1536x384xi8>, tensor<1536x1xf32> -> tensor<?x1536xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, AnyRankedTensor:$weight,
                       AnyRankedTensor:$scales,
                       Optional<AnyRankedTensor>:$zero_points,
                       Optional<AnyRankedTensor>:$bias,
                       I64Attr:$bits, I64Attr:$group_size, I64Attr:$in_features,
                       UnitAttr:$int8_activations);
  let results = (outs AnyRankedTensor:$output);
  let assemblyFormat = [{
    $input `,` $weight `,` $scales (`zero_points` $zero_points^)? (`bias` $bias^)?
    attr-dict `:` type($input) `,` type($weight) `,` type($scales)
    (`zero_points` type($zero_points)^)? (`bias` type($bias)^)? `->` type($output)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Scales (and zero points) per output channel: ceil(K / group_size).
    int64_t getNumGroups() { return (getInFeatures() + getGroupSize() - 1) / getGroupSize(); }
  }];
}

def Compress_SparseLinearOp : Compress_Op<"sparse_linear",
    [Pure, AttrSizedOperandSegments,
     DeclareOpInterfaceMethods<Compress_CompressibleLayerInterface, ["isCompressedLayer"]>]> {
  let summary = "Linear layer with a pruned weight: N:M-sparse or unstructured (ELL)";
  let description = [{
    `output = input * transpose(W) + bias` for a logical [N, K] weight
    (K = `in_features`) of which only the stored entries are nonzero. Two
    formats, both row by row:

    - **N:M** (`keep` = N and `block` = M set; 1 <= N < M <= 16, M divides
      K): every M consecutive columns of a row hold N entries, so a row
      stores S = K / M * N of them. Entry j lies in group j / N, at column
      (j / N) * M + idx(j), the idx strictly increasing inside a group.
      `indices` packs the idx, [N, ceil(S * b / 8)] bytes with b = 2 bits
      when M <= 4 and 4 bits otherwise, entry j at bit (j * b) % 8 of byte
      j * b / 8.
    - **ELL** (`counts` given): row r stores counts[r] entries (i32 [N]),
      at most L; `indices` holds their columns, [N, L], strictly
      increasing, as unsigned 16-bit integers (i16; K <= 65536) or i32.
      Entries past a row's count are padding (value 0, column 0) and
      never read the input.

    Values (S read as L for ELL): float [N, S] of the input's type; or,
    with `bits` = 8 or 4, integer codes [N, S] (8 bits) or two per byte
    [N, ceil(S / 2)] (4 bits, entry 2t in the low nibble), dequantised as
    `(code - zero_points[r, g]) * scales[r, g]` with g = j / `group_size`:
    groups count *stored entries* (an N:M group of G columns is G * N / M
    entries). Codes are signed without zero points, unsigned with them.
    `int8_activations` quantises the input per row to int8 first, as
    `compress.quantized_linear` does.

    ```mlir
    %y = compress.sparse_linear %x, %values, %indices {block = 4 : i64, in_features = 576 : i64, keep = 2 : i64}
        : tensor<?x576xf32>, tensor<1536x288xf32>, tensor<1536x72xi8> -> tensor<?x1536xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, AnyRankedTensor:$values,
                       AnyRankedTensor:$indices,
                       Optional<AnyRankedTensor>:$counts,
                       Optional<AnyRankedTensor>:$scales,
                       Optional<AnyRankedTensor>:$zero_points,
                       Optional<AnyRankedTensor>:$bias,
                       I64Attr:$in_features,
                       OptionalAttr<I64Attr>:$keep, OptionalAttr<I64Attr>:$block,
                       DefaultValuedAttr<I64Attr, "0">:$bits,
                       DefaultValuedAttr<I64Attr, "0">:$group_size,
                       UnitAttr:$int8_activations);
  let results = (outs AnyRankedTensor:$output);
  let assemblyFormat = [{
    $input `,` $values `,` $indices (`counts` $counts^)? (`scales` $scales^)?
    (`zero_points` $zero_points^)? (`bias` $bias^)?
    attr-dict `:` type($input) `,` type($values) `,` type($indices)
    (`counts` type($counts)^)? (`scales` type($scales)^)?
    (`zero_points` type($zero_points)^)? (`bias` type($bias)^)? `->` type($output)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Whether the weight is N:M-sparse (else ELL).
    bool isNM() { return getBlock().has_value(); }
    /// Entries stored per row: K / M * N, or L.
    int64_t getStoredEntries();
    /// Bits per packed N:M index: 2 for M <= 4, else 4.
    static int64_t indexBits(int64_t block) { return block <= 4 ? 2 : 4; }
  }];
}

def Compress_LowRankLinearOp : Compress_Op<"low_rank_linear",
    [Pure, AttrSizedOperandSegments,
     DeclareOpInterfaceMethods<Compress_CompressibleLayerInterface, ["isCompressedLayer"]>]> {
  let summary = "Linear layer with a factorized weight: input * transpose(up * down)";
  let description = [{
    `output = addend + bias + (input * transpose(down)) * transpose(up)` for
    a weight approximated by the product of `up` [N, r] and `down` [r, K]
    (r = `rank`): two products, r (N + K) multiply-adds per row instead of
    N K, and the [N, K] product never formed.

    `addend` (optional, [.., N]) is added to the result: the output of the
    compressed layer whose error the low-rank path compensates (EoRA). A
    layer takes a bias or an addend, not both (a compensated layer's bias
    stays with it).

    Factors are float (`bits` = 0) or signed integer codes (`bits` = 8 or
    4, two per byte at 4 bits, element 2j in the low nibble) with one
    scale per row of each factor (`group_size` = 0) or per `group_size`
    of its input features (K for `down`, r for `up`); scales are
    [r, ceil(K / g)] and [N, ceil(r / g)].

    ```mlir
    %y = compress.low_rank_linear %x, %down, %up {in_features = 576 : i64, rank = 64 : i64}
        : tensor<?x576xf32>, tensor<64x576xf32>, tensor<1536x64xf32> -> tensor<?x1536xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, AnyRankedTensor:$down, AnyRankedTensor:$up,
                       Optional<AnyRankedTensor>:$down_scales,
                       Optional<AnyRankedTensor>:$up_scales,
                       Optional<AnyRankedTensor>:$bias,
                       Optional<AnyRankedTensor>:$addend,
                       I64Attr:$in_features, I64Attr:$rank,
                       DefaultValuedAttr<I64Attr, "0">:$bits,
                       DefaultValuedAttr<I64Attr, "0">:$group_size);
  let results = (outs AnyRankedTensor:$output);
  let assemblyFormat = [{
    $input `,` $down `,` $up (`scales` $down_scales^ `,` $up_scales)? (`bias` $bias^)?
    (`addend` $addend^)?
    attr-dict `:` type($input) `,` type($down) `,` type($up)
    (`scales` type($down_scales)^ `,` type($up_scales))? (`bias` type($bias)^)?
    (`addend` type($addend)^)? `->` type($output)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Output features N.
    int64_t getOutFeatures() { return getUp().getType().getDimSize(0); }
    /// Scales per row of a factor with `features` inputs.
    int64_t getNumGroups(int64_t features) {
      int64_t g = getGroupSize() == 0 ? features : getGroupSize();
      return (features + g - 1) / g;
    }
  }];
}

def Compress_CheckIndexOp : Compress_Op<"check_index",
    [MemoryEffects<[MemWrite]>]> {
  let summary = "An index checked against its extent when the model runs";
  let description = [{
    Returns `index` wrapped into [0, extent) when it lies in
    [-extent, extent) (negative indices count from the end, as ONNX's Gather
    and embedding lookups define them). Otherwise the run fails with an error
    naming `site` (what the index selects from: "node 'x' (Gather)"), and the
    op returns 0 so that the lookup it guards reads in bounds until the run
    ends. Targets lower it to a compare and a call into their runtime; the
    write effect keeps it from being removed or hoisted.

    ```mlir
    %row = compress.check_index %id, %rows {site = "node 'embed' (Gather)"}
    ```
  }];
  let arguments = (ins Index:$index, Index:$extent, StrAttr:$site);
  let results = (outs Index:$result);
  let assemblyFormat = "$index `,` $extent attr-dict";
}

def Compress_CheckCountOp : Compress_Op<"check_count",
    [MemoryEffects<[MemWrite]>]> {
  let summary = "An element count computed at run time checked against another";
  let description = [{
    Returns true when `count` equals `expected`. Otherwise the run fails
    with an error naming `site` ("node 'r' (Reshape)") and both counts, and
    the op returns false, so that the code it guards can take sizes that
    stay in bounds until the run ends (a Reshape to a shape computed at run
    time: the shape's element count against its input's). Targets lower it
    to a call into their runtime; the write effect keeps it from being
    removed or hoisted.

    ```mlir
    %fits = compress.check_count %asked, %total {site = "node 'r' (Reshape)"}
    ```
  }];
  let arguments = (ins Index:$count, Index:$expected, StrAttr:$site);
  let results = (outs I1:$result);
  let assemblyFormat = "$count `,` $expected attr-dict";
  let hasVerifier = 1;
}

include "dialects/compress/IR/TokenOps.td"

#endif // COMPRESS_OPS_TD
