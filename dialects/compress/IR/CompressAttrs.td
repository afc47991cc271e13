// Attributes of the `compress` dialect.
#ifndef COMPRESS_ATTRS_TD
#define COMPRESS_ATTRS_TD

include "dialects/compress/IR/CompressBase.td"
include "mlir/IR/AttrTypeBase.td"

def Compress_QuantizedProductAttr : AttrDef<Compress_Dialect, "QuantizedProduct"> {
  let mnemonic = "quantized_product";
  let summary = "What a lowered quantized linear layer computes";
  let description = [{
    Carried as `compress.quantized_linear` by the `linalg.generic` that
    `convert-compress-to-linalg` makes of a `compress.quantized_linear`, so
    that a target's microkernel lowering knows the layer: `bits` per code,
    `group_size` and `in_features` (K; the last group may be partial),
    `int8_activations` (inputs quantized per row to int8: the loop's float
    body alone would compute something else, so a target must either call a
    kernel that honours it or refuse), and whether the weight and its tables
    are in the CPU kernels' tiles (`tiled`) or the dialect's row-major
    packing. The dialect verifies the attribute and that it sits on a
    `linalg.generic`.

    ```mlir
    attrs = {compress.quantized_linear = #compress.quantized_product<bits = 4,
        group_size = 128, in_features = 576, int8_activations = false, tiled = true>}
    ```
  }];
  let parameters = (ins "int64_t":$bits, "int64_t":$group_size, "int64_t":$in_features,
                        "bool":$int8_activations, "bool":$tiled);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Compress_SparseProductAttr : AttrDef<Compress_Dialect, "SparseProduct"> {
  let mnemonic = "sparse_product";
  let summary = "What a lowered sparse linear layer computes";
  let description = [{
    Carried as `compress.sparse_linear` by the `linalg.generic` that
    `convert-compress-to-linalg` makes of a `compress.sparse_linear`: the
    weight's format (`keep` of every `block` columns, or `block` = 0 for
    ELL, whose columns are `column_bits` wide), `bits` per value (0: float),
    `group_size` in stored entries, `in_features` (K) and
    `int8_activations` (a target must call a kernel that honours it, or
    refuse). The loop reads the input through `tensor.extract` at each
    entry's column (a gather): a target's microkernel lowering finds the
    input as the one tensor the body reads that is not an operand.

    ```mlir
    attrs = {compress.sparse_linear = #compress.sparse_product<keep = 2, block = 4,
        column_bits = 0, bits = 0, group_size = 0, in_features = 576, int8_activations = false>}
    ```
  }];
  let parameters = (ins "int64_t":$keep, "int64_t":$block, "int64_t":$column_bits,
                        "int64_t":$bits, "int64_t":$group_size, "int64_t":$in_features,
                        "bool":$int8_activations);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

#endif // COMPRESS_ATTRS_TD
