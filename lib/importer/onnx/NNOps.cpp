// Neural-network layers: Conv, ConvTranspose, BatchNormalization, MaxPool,
// AveragePool, GlobalAveragePool, GlobalMaxPool.
#include "lib/importer/onnx/Builders.h"

#include "dialects/compress/IR/CompressOps.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace compress;
using namespace mlir;
using llvm::SmallVector;

namespace {

bool isFloat(Type t) { return isa<FloatType>(t); }
Type elemOf(Value v) { return cast<ShapedType>(v.getType()).getElementType(); }
RankedTensorType typeOf(Value v) { return cast<RankedTensorType>(v.getType()); }

/// The geometry of a convolution or pooling window over the spatial
/// dimensions (those after N and C).
struct Window {
  SmallVector<int64_t> kernel, strides, dilations, padLow, padHigh;
  /// Extra high padding so that the windows ceil_mode adds fit the input.
  SmallVector<int64_t> ceilExtra;
  /// Output spatial sizes.
  SmallVector<OpFoldResult> outSizes;

  bool padded() const {
    return llvm::any_of(padLow, [](int64_t p) { return p != 0; }) ||
           llvm::any_of(padHigh, [](int64_t p) { return p != 0; }) ||
           llvm::any_of(ceilExtra, [](int64_t p) { return p != 0; });
  }
};

/// An optional ints attribute of `count` values, `dflt` each when absent.
LogicalResult intsOrDefault(NodeContext &ctx, StringRef name, size_t count,
                            int64_t dflt, SmallVector<int64_t> &out) {
  std::optional<SmallVector<int64_t>> v = ctx.intsAttr(name);
  if (!v) {
    out.assign(count, dflt);
    return success();
  }
  if (v->size() != count)
    return ctx.error() << "'" << name << "' has " << v->size()
                       << " values, expected " << count;
  out = *v;
  return success();
}

/// Reads strides, pads, auto_pad and (where the opset has them) dilations,
/// then derives the padding and output sizes of a window of `kernel` sliding
/// over `input` ([N, C, spatial...]).
LogicalResult readWindow(NodeContext &ctx, Value input, ArrayRef<int64_t> kernel,
                         bool hasDilations, bool ceilMode, Window &w) {
  size_t k = kernel.size();
  w.kernel.assign(kernel.begin(), kernel.end());
  if (failed(intsOrDefault(ctx, "strides", k, 1, w.strides)))
    return failure();
  if (hasDilations) {
    if (failed(intsOrDefault(ctx, "dilations", k, 1, w.dilations)))
      return failure();
  } else {
    w.dilations.assign(k, 1);
  }
  SmallVector<int64_t> pads;
  if (failed(intsOrDefault(ctx, "pads", 2 * k, 0, pads)))
    return failure();
  std::string autoPad = ctx.stringAttr("auto_pad", "NOTSET");
  for (size_t i = 0; i < k; ++i) {
    if (w.kernel[i] < 1 || w.strides[i] < 1 || w.dilations[i] < 1)
      return ctx.error() << "kernel sizes, strides and dilations must be >= 1";
    if (pads[i] < 0 || pads[k + i] < 0)
      return ctx.error() << "unsupported negative pads";
  }
  if (autoPad != "NOTSET" && autoPad != "VALID" && autoPad != "SAME_UPPER" &&
      autoPad != "SAME_LOWER")
    return ctx.error() << "unsupported auto_pad '" << autoPad << "'";
  bool explicitPads = autoPad == "NOTSET";
  if (!explicitPads)
    ceilMode = false; // the output size of auto_pad does not depend on it

  OpBuilder &b = ctx.b;
  RankedTensorType type = typeOf(input);
  w.padLow.assign(k, 0);
  w.padHigh.assign(k, 0);
  w.ceilExtra.assign(k, 0);
  w.outSizes.clear();
  for (size_t i = 0; i < k; ++i) {
    int64_t in = type.getDimSize(2 + i);
    int64_t s = w.strides[i];
    int64_t effective = (w.kernel[i] - 1) * w.dilations[i] + 1;
    if (explicitPads) {
      w.padLow[i] = pads[i];
      w.padHigh[i] = pads[k + i];
    } else if (autoPad != "VALID") {
      if (ShapedType::isDynamic(in))
        return ctx.error() << "unsupported auto_pad '" << autoPad
                           << "' on a dynamic spatial dimension";
      int64_t out = (in + s - 1) / s;
      int64_t total = std::max<int64_t>(0, (out - 1) * s + effective - in);
      int64_t small = total / 2;
      w.padLow[i] = autoPad == "SAME_UPPER" ? small : total - small;
      w.padHigh[i] = total - w.padLow[i];
    }
    int64_t padTotal = w.padLow[i] + w.padHigh[i];
    if (ShapedType::isDynamic(in)) {
      if (ceilMode)
        return ctx.error() << "unsupported ceil_mode on a dynamic spatial dimension";
      AffineExpr d0;
      bindSymbols(b.getContext(), d0);
      OpFoldResult inSize = tensor::DimOp::create(b, ctx.loc, input, 2 + i).getResult();
      w.outSizes.push_back(affine::makeComposedFoldedAffineApply(
          b, ctx.loc, (d0 + padTotal - effective).floorDiv(s) + 1, {inSize}));
      continue;
    }
    int64_t padded = in + padTotal;
    if (padded < effective)
      return ctx.error() << "the window (" << effective << " wide on spatial axis "
                         << i << ") is larger than the padded input (" << padded << ")";
    int64_t out = (padded - effective) / s + 1;
    if (ceilMode) {
      out = (padded - effective + s - 1) / s + 1;
      // The last window must start inside the input or its low padding.
      if ((out - 1) * s >= in + w.padLow[i])
        --out;
      w.ceilExtra[i] = std::max<int64_t>(0, (out - 1) * s + effective - padded);
    }
    w.outSizes.push_back(b.getIndexAttr(out));
  }
  return success();
}

/// Pads the spatial dimensions of `input` with `value`: low by `low`, high by
/// `high` (N and C are not padded).
Value padSpatial(OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> low,
                 ArrayRef<int64_t> high, TypedAttr value) {
  if (llvm::all_of(low, [](int64_t p) { return p == 0; }) &&
      llvm::all_of(high, [](int64_t p) { return p == 0; }))
    return input;
  SmallVector<OpFoldResult> lo(2, b.getIndexAttr(0)), hi(2, b.getIndexAttr(0));
  for (size_t i = 0; i < low.size(); ++i) {
    lo.push_back(b.getIndexAttr(low[i]));
    hi.push_back(b.getIndexAttr(high[i]));
  }
  Value v = arith::ConstantOp::create(b, loc, value);
  return tensor::PadOp::create(b, loc, Type(), input, lo, hi, v);
}

/// Slides the window over `padded` ([N, C, spatial...], padding included):
/// out[n, c, o..] = combine over w.. of padded[n, c, o*stride + w*dilation].
Value poolWindows(OpBuilder &b, Location loc, Value padded, const Window &w,
                  TypedAttr init, ScalarFn combine) {
  RankedTensorType type = typeOf(padded);
  Type elem = type.getElementType();
  int64_t k = w.kernel.size();
  int64_t loops = 2 + 2 * k;
  MLIRContext *ctx = b.getContext();
  SmallVector<OpFoldResult> inSizes = mixedSizes(b, loc, padded);
  SmallVector<OpFoldResult> outSizes = {inSizes[0], inSizes[1]};
  outSizes.append(w.outSizes.begin(), w.outSizes.end());
  Value acc = linalg::FillOp::create(b, loc,
                                     arith::ConstantOp::create(b, loc, init).getResult(),
                                     emptyTensor(b, loc, outSizes, elem))
                  .getResult(0);
  SmallVector<OpFoldResult> windowSizes;
  for (int64_t size : w.kernel)
    windowSizes.push_back(b.getIndexAttr(size));
  Value window = emptyTensor(b, loc, windowSizes, elem);

  SmallVector<AffineExpr> inExprs = {getAffineDimExpr(0, ctx), getAffineDimExpr(1, ctx)};
  SmallVector<AffineExpr> windowExprs, outExprs = inExprs;
  for (int64_t i = 0; i < k; ++i) {
    AffineExpr o = getAffineDimExpr(2 + i, ctx), r = getAffineDimExpr(2 + k + i, ctx);
    inExprs.push_back(o * w.strides[i] + r * w.dilations[i]);
    windowExprs.push_back(r);
    outExprs.push_back(o);
  }
  SmallVector<AffineMap> maps = {AffineMap::get(loops, 0, inExprs, ctx),
                                 AffineMap::get(loops, 0, windowExprs, ctx),
                                 AffineMap::get(loops, 0, outExprs, ctx)};
  SmallVector<utils::IteratorType> iterators(2 + k, utils::IteratorType::parallel);
  iterators.append(k, utils::IteratorType::reduction);
  return linalg::GenericOp::create(
             b, loc, TypeRange{acc.getType()}, ValueRange{padded, window},
             ValueRange{acc}, maps, iterators,
             [&](OpBuilder &nb, Location l, ValueRange args) {
               linalg::YieldOp::create(nb, l, combine(nb, l, {args[0], args[2]}));
             })
      .getResult(0);
}

/// Inserts a unit dimension at `dim` (1-D Conv runs as 2-D).
Value insertUnitDim(OpBuilder &b, Location loc, Value v, int64_t dim) {
  SmallVector<OpFoldResult> sizes = mixedSizes(b, loc, v);
  sizes.insert(sizes.begin() + dim, b.getIndexAttr(1));
  return reshapeTensor(b, loc, v, sizes);
}

/// Kernel sizes of a convolution: from the weight's spatial dimensions
/// (those after its first two), checked against kernel_shape when both are
/// known.
LogicalResult convKernel(NodeContext &ctx, RankedTensorType weightType, int64_t spatial,
                         SmallVector<int64_t> &kernel) {
  std::optional<SmallVector<int64_t>> kernelAttr = ctx.intsAttr("kernel_shape");
  if (kernelAttr && int64_t(kernelAttr->size()) != spatial)
    return ctx.error() << "'kernel_shape' has " << kernelAttr->size()
                       << " values, expected " << spatial;
  kernel.clear();
  for (int64_t i = 0; i < spatial; ++i) {
    int64_t fromWeight = weightType.getDimSize(2 + i);
    if (kernelAttr && !ShapedType::isDynamic(fromWeight) && (*kernelAttr)[i] != fromWeight)
      return ctx.error() << "'kernel_shape' does not match the weight's spatial dimensions";
    int64_t size = ShapedType::isDynamic(fromWeight) && kernelAttr ? (*kernelAttr)[i] : fromWeight;
    if (ShapedType::isDynamic(size))
      return ctx.error() << "unsupported weight with a dynamic spatial dimension "
                            "(give kernel_shape)";
    if (size < 1)
      return ctx.error() << "kernel sizes must be >= 1";
    kernel.push_back(size);
  }
  return success();
}

/// Conv: 2-D to compress.conv2d; 1-D through a unit height.
LogicalResult importConv(NodeContext &ctx) {
  Value x = ctx.input(0), weight = ctx.input(1);
  if (!x || !weight)
    return failure();
  Value bias;
  if (ctx.hasInput(2) && !(bias = ctx.input(2)))
    return failure();
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  int64_t rank = typeOf(x).getRank();
  if (rank >= 5)
    return ctx.error() << "unsupported " << rank - 2
                       << "-D convolution (only 1-D and 2-D are supported)";
  if (rank < 3)
    return ctx.error() << "expects an input of rank 3 or 4, got rank " << rank;
  if (typeOf(weight).getRank() != rank)
    return ctx.error() << "expects a weight of rank " << rank << ", got rank "
                       << typeOf(weight).getRank();
  Type elem = elemOf(x);
  if (!isFloat(elem))
    return ctx.error() << "unsupported non-floating-point input of type " << elem;
  if (elemOf(weight) != elem || (bias && elemOf(bias) != elem))
    return ctx.error() << "X, W and B must have one element type";
  if (bias && (typeOf(bias).getRank() != 1))
    return ctx.error() << "expects a bias of rank 1";
  int64_t group = ctx.intAttr("group", 1);
  if (group < 1)
    return ctx.error() << "group must be >= 1, got " << group;

  int64_t spatial = rank - 2;
  SmallVector<int64_t> kernel;
  if (failed(convKernel(ctx, typeOf(weight), spatial, kernel)))
    return failure();

  // Channel checks where shapes are static.
  int64_t channels = typeOf(x).getDimSize(1);
  int64_t filters = typeOf(weight).getDimSize(0);
  int64_t perGroup = typeOf(weight).getDimSize(1);
  if (!ShapedType::isDynamic(filters) && filters % group != 0)
    return ctx.error() << "the number of filters (" << filters
                       << ") is not divisible by group (" << group << ")";
  if (!ShapedType::isDynamic(channels) && !ShapedType::isDynamic(perGroup) &&
      channels != perGroup * group)
    return ctx.error() << "input channels (" << channels
                       << ") do not match the weight's channels x group ("
                       << perGroup << " x " << group << ")";

  Window w;
  if (failed(readWindow(ctx, x, kernel, /*hasDilations=*/true, /*ceilMode=*/false, w)))
    return failure();
  bool oneD = spatial == 1;
  if (oneD) {
    // [N, C, L] -> [N, C, 1, L] and [F, C/g, K] -> [F, C/g, 1, K].
    x = insertUnitDim(b, loc, x, 2);
    weight = insertUnitDim(b, loc, weight, 2);
    w.kernel.insert(w.kernel.begin(), 1);
    w.strides.insert(w.strides.begin(), 1);
    w.dilations.insert(w.dilations.begin(), 1);
    w.padLow.insert(w.padLow.begin(), 0);
    w.padHigh.insert(w.padHigh.begin(), 0);
    w.outSizes.insert(w.outSizes.begin(), b.getIndexAttr(1));
  }
  SmallVector<int64_t> outShape = {typeOf(x).getDimSize(0), filters};
  for (OpFoldResult s : w.outSizes)
    outShape.push_back(getConstantIntValue(s).value_or(ShapedType::kDynamic));
  auto resultType = RankedTensorType::get(outShape, elem);
  SmallVector<int64_t> padding = {w.padLow[0], w.padLow[1], w.padHigh[0], w.padHigh[1]};
  Value y = compress::Conv2DOp::create(b, loc, resultType, x, weight, bias,
                                       w.strides, padding, w.dilations,
                                       uint64_t(group));
  if (oneD) {
    SmallVector<OpFoldResult> sizes = mixedSizes(b, loc, y);
    sizes.erase(sizes.begin() + 2);
    y = reshapeTensor(b, loc, y, sizes);
  }
  ctx.setOutput(0, y);
  return success();
}

/// Floor division (the ONNX spec's pad formulas are Python arithmetic).
int64_t floorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/// The weight of the convolution that computes a transposed one: W is
/// [C, F/group, k...]; the result is [F, C/group, k...] with every spatial
/// dimension reversed, i.e. out[f, c, p] = W[(f / Fg) * Cg + c, f % Fg, S-1-p]
/// over the flattened kernel index p (reversing each dimension reverses the
/// row-major flat index). `shape4` is the 4-D result shape (a unit height for
/// 1-D). A constant weight is rearranged at import so that the conv keeps a
/// constant (compressible) weight; otherwise a linalg.generic does it.
Value convTransposeWeight(NodeContext &ctx, int64_t group, ArrayRef<int64_t> shape4) {
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  RankedTensorType wType = ctx.inputType(1);
  Type elem = wType.getElementType();
  int64_t cg = wType.getDimSize(0) / group, fg = wType.getDimSize(1);
  int64_t kernelSize = product(wType.getShape().drop_front(2));
  auto resultType = RankedTensorType::get(shape4, elem);
  if (ctx.constTensor(1)) {
    std::optional<std::vector<char>> bytes = ctx.constBytes(1);
    if (!bytes)
      return Value();
    size_t width = elem.getIntOrFloatBitWidth() / 8;
    std::vector<char> out(bytes->size());
    int64_t filters = fg * group;
    for (int64_t f = 0; f < filters; ++f)
      for (int64_t c = 0; c < cg; ++c)
        for (int64_t p = 0; p < kernelSize; ++p) {
          int64_t from = (((f / fg) * cg + c) * fg + f % fg) * kernelSize + kernelSize - 1 - p;
          int64_t to = (f * cg + c) * kernelSize + p;
          memcpy(out.data() + to * width, bytes->data() + from * width, width);
        }
    return ctx.importer.createConstant(ctx.node.input(1) + "|transposed_conv|group=" +
                                           std::to_string(group),
                                       resultType, out, loc);
  }
  Value weight = ctx.input(1);
  if (!weight)
    return Value();
  if (wType.getRank() == 3)
    weight = insertUnitDim(b, loc, weight, 2);
  MLIRContext *mctx = b.getContext();
  AffineExpr f = getAffineDimExpr(0, mctx), c = getAffineDimExpr(1, mctx);
  AffineExpr y = getAffineDimExpr(2, mctx), x = getAffineDimExpr(3, mctx);
  AffineMap in = AffineMap::get(
      4, 0, {f.floorDiv(fg) * cg + c, f % fg, (shape4[2] - 1) - y, (shape4[3] - 1) - x}, mctx);
  AffineMap id = AffineMap::getMultiDimIdentityMap(4, mctx);
  Value init = tensor::EmptyOp::create(b, loc, shape4, elem);
  return linalg::GenericOp::create(
             b, loc, TypeRange{resultType}, ValueRange{weight}, ValueRange{init},
             SmallVector<AffineMap>{in, id},
             SmallVector<utils::IteratorType>(4, utils::IteratorType::parallel),
             [](OpBuilder &nb, Location l, ValueRange args) {
               linalg::YieldOp::create(nb, l, args[0]);
             })
      .getResult(0);
}

/// ConvTranspose as a stride-1 convolution: the input is spread out with
/// stride - 1 zeros between elements (insert_slice with strides into zeros),
/// padded by dilation * (k - 1) - pad_begin low and dilation * (k - 1) -
/// pad_end + output_padding high (cropped with extract_slice where that is
/// negative), and convolved with the spatially reversed weight whose channel
/// axes are swapped within each group. 2-D directly, 1-D through a unit height.
LogicalResult importConvTranspose(NodeContext &ctx) {
  Value x = ctx.input(0);
  if (!x)
    return failure();
  Value bias;
  if (ctx.hasInput(2) && !(bias = ctx.input(2)))
    return failure();
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  int64_t rank = typeOf(x).getRank();
  if (rank >= 5)
    return ctx.error() << "unsupported " << rank - 2
                       << "-D transposed convolution (only 1-D and 2-D are supported)";
  if (rank < 3)
    return ctx.error() << "expects an input of rank 3 or 4, got rank " << rank;
  // The weight is materialised only when it is not a constant (a constant
  // one is rearranged at import).
  RankedTensorType wType = ctx.inputType(1);
  if (wType.getRank() != rank)
    return ctx.error() << "expects a weight of rank " << rank << ", got rank "
                       << wType.getRank();
  Type elem = elemOf(x);
  if (!isFloat(elem))
    return ctx.error() << "unsupported non-floating-point input of type " << elem;
  if (wType.getElementType() != elem || (bias && elemOf(bias) != elem))
    return ctx.error() << "X, W and B must have one element type";
  if (bias && typeOf(bias).getRank() != 1)
    return ctx.error() << "expects a bias of rank 1";
  int64_t group = ctx.intAttr("group", 1);
  if (group < 1)
    return ctx.error() << "group must be >= 1, got " << group;
  int64_t spatial = rank - 2;
  SmallVector<int64_t> kernel;
  if (failed(convKernel(ctx, wType, spatial, kernel)))
    return failure();

  // W is [C, F/group, k...]: the conv needs C and F/group.
  int64_t channels = wType.getDimSize(0), perGroup = wType.getDimSize(1);
  if (ShapedType::isDynamic(channels) || ShapedType::isDynamic(perGroup) ||
      !wType.hasStaticShape())
    return ctx.error() << "unsupported weight of dynamic shape";
  int64_t inChannels = typeOf(x).getDimSize(1);
  if (!ShapedType::isDynamic(inChannels) && inChannels != channels)
    return ctx.error() << "input channels (" << inChannels
                       << ") do not match the weight's first dimension (" << channels << ")";
  if (channels % group != 0)
    return ctx.error() << "the number of input channels (" << channels
                       << ") is not divisible by group (" << group << ")";
  int64_t filters = perGroup * group;
  if (bias && !typeOf(bias).isDynamicDim(0) && typeOf(bias).getDimSize(0) != filters)
    return ctx.error() << "expects a bias of " << filters << " values, got "
                       << typeOf(bias).getDimSize(0);
  if (bias && typeOf(bias).isDynamicDim(0)) // the filter count is known
    bias = tensor::CastOp::create(b, loc, RankedTensorType::get({filters}, elem), bias);

  SmallVector<int64_t> strides, dilations, pads, outputPadding;
  if (failed(intsOrDefault(ctx, "strides", spatial, 1, strides)) ||
      failed(intsOrDefault(ctx, "dilations", spatial, 1, dilations)) ||
      failed(intsOrDefault(ctx, "pads", 2 * spatial, 0, pads)) ||
      failed(intsOrDefault(ctx, "output_padding", spatial, 0, outputPadding)))
    return failure();
  bool hasPads = llvm::any_of(pads, [](int64_t p) { return p != 0; });
  std::optional<SmallVector<int64_t>> outputShape = ctx.intsAttr("output_shape");
  if (outputShape && int64_t(outputShape->size()) != spatial)
    return ctx.error() << "'output_shape' has " << outputShape->size()
                       << " values, expected " << spatial
                       << " (the spatial dimensions only)";
  std::string autoPad = ctx.stringAttr("auto_pad", "NOTSET");
  if (autoPad != "NOTSET" && autoPad != "VALID" && autoPad != "SAME_UPPER" &&
      autoPad != "SAME_LOWER")
    return ctx.error() << "unsupported auto_pad '" << autoPad << "'";
  bool same = autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER";
  if (autoPad != "NOTSET" && hasPads && !outputShape)
    return ctx.error() << "unsupported 'pads' together with auto_pad '" << autoPad << "'";
  // Opsets 1 to 10 define SAME as an output as large as the input and split
  // the padding of output_shape the other way round; only the cases where
  // the old and new rules agree are accepted there.
  if (ctx.opset < 11 && same)
    return ctx.error() << "unsupported auto_pad '" << autoPad
                       << "' before opset 11 (its definition changed in opset 11)";

  // Per spatial axis: the padding of the spread input (low, high; negative
  // values crop it).
  SmallVector<int64_t> low, high;
  for (int64_t i = 0; i < spatial; ++i) {
    int64_t s = strides[i], d = dilations[i], op = outputPadding[i];
    if (s < 1 || d < 1)
      return ctx.error() << "strides and dilations must be >= 1";
    if (op < 0 || op >= std::max(s, d))
      return ctx.error() << "output_padding (" << op
                         << ") must be >= 0 and less than max(stride, dilation) ("
                         << std::max(s, d) << ")";
    if (pads[i] < 0 || pads[spatial + i] < 0)
      return ctx.error() << "unsupported negative pads";
    int64_t effective = (kernel[i] - 1) * d + 1;
    int64_t in = typeOf(x).getDimSize(2 + i);
    int64_t head, tail;
    if (outputShape) {
      // pads are ignored; they follow from the requested size.
      if (ShapedType::isDynamic(in))
        return ctx.error() << "unsupported output_shape on a dynamic spatial dimension";
      int64_t total = s * (in - 1) + op + effective - (*outputShape)[i];
      if (ctx.opset < 11 && (total < 0 || total % 2 != 0))
        return ctx.error() << "unsupported output_shape needing an odd or negative total "
                              "padding before opset 11 (its split changed in opset 11)";
      head = autoPad == "SAME_UPPER" ? floorDiv(total, 2) : total - floorDiv(total, 2);
      tail = total - head;
      if (head < 0)
        return ctx.error() << "unsupported output_shape larger than the full output "
                              "that needs negative padding at the start";
    } else if (same) {
      // The output is input * stride.
      int64_t total = op + effective - s;
      if (total < 0)
        return ctx.error() << "unsupported auto_pad '" << autoPad
                           << "' with an output (input x stride) larger than the full output";
      head = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2;
      tail = total - head;
    } else {
      head = autoPad == "VALID" ? 0 : pads[i];
      tail = autoPad == "VALID" ? 0 : pads[spatial + i];
    }
    low.push_back(effective - 1 - head);
    high.push_back(effective - 1 - tail + op);
    if (!ShapedType::isDynamic(in)) {
      int64_t spread = (in - 1) * s + 1;
      if (spread + low.back() + high.back() - effective + 1 < 1)
        return ctx.error() << "the padding leaves no output on spatial axis " << i;
      if (spread + std::min<int64_t>(low.back(), 0) + std::min<int64_t>(high.back(), 0) < 1)
        return ctx.error() << "unsupported padding that crops away all of the input on "
                              "spatial axis "
                           << i;
    }
  }

  bool oneD = spatial == 1;
  if (oneD) {
    // [N, C, L] -> [N, C, 1, L]; the unit height is neither spread nor padded.
    x = insertUnitDim(b, loc, x, 2);
    kernel.insert(kernel.begin(), 1);
    strides.insert(strides.begin(), 1);
    dilations.insert(dilations.begin(), 1);
    low.insert(low.begin(), 0);
    high.insert(high.begin(), 0);
  }

  // Spread: out[n, c, i * s] = x[n, c, i], zeros in between.
  SmallVector<OpFoldResult> sizes = mixedSizes(b, loc, x);
  if (llvm::any_of(strides, [](int64_t s) { return s != 1; })) {
    SmallVector<OpFoldResult> spreadSizes = sizes;
    AffineExpr s0;
    bindSymbols(b.getContext(), s0);
    for (int64_t i = 0; i < 2; ++i)
      spreadSizes[2 + i] = affine::makeComposedFoldedAffineApply(
          b, loc, (s0 - 1) * strides[i] + 1, {sizes[2 + i]});
    Value zero = arith::ConstantOp::create(b, loc, scalarAttr(b, elem, 0));
    Value zeros =
        linalg::FillOp::create(b, loc, zero, emptyTensor(b, loc, spreadSizes, elem)).getResult(0);
    SmallVector<OpFoldResult> offsets(4, b.getIndexAttr(0));
    SmallVector<OpFoldResult> steps = {b.getIndexAttr(1), b.getIndexAttr(1),
                                       b.getIndexAttr(strides[0]), b.getIndexAttr(strides[1])};
    x = tensor::InsertSliceOp::create(b, loc, x, zeros, offsets, sizes, steps);
    sizes = spreadSizes;
  }
  // Negative padding crops the spread input.
  if (llvm::any_of(low, [](int64_t p) { return p < 0; }) ||
      llvm::any_of(high, [](int64_t p) { return p < 0; })) {
    SmallVector<OpFoldResult> offsets(4, b.getIndexAttr(0));
    SmallVector<OpFoldResult> cropSizes = sizes;
    AffineExpr s0;
    bindSymbols(b.getContext(), s0);
    for (int64_t i = 0; i < 2; ++i) {
      int64_t lo = std::min<int64_t>(low[i], 0), hi = std::min<int64_t>(high[i], 0);
      offsets[2 + i] = b.getIndexAttr(-lo);
      cropSizes[2 + i] =
          affine::makeComposedFoldedAffineApply(b, loc, s0 + lo + hi, {sizes[2 + i]});
      low[i] -= lo;
      high[i] -= hi;
    }
    SmallVector<OpFoldResult> steps(4, b.getIndexAttr(1));
    x = tensor::ExtractSliceOp::create(b, loc, x, offsets, cropSizes, steps);
  }

  SmallVector<int64_t> weightShape = {filters, channels / group};
  weightShape.append(kernel.begin(), kernel.end());
  Value convWeight = convTransposeWeight(ctx, group, weightShape);
  if (!convWeight)
    return failure();
  SmallVector<int64_t> outShape = {typeOf(x).getDimSize(0), filters};
  for (int64_t i = 0; i < 2; ++i) {
    int64_t in = typeOf(x).getDimSize(2 + i);
    int64_t effective = (kernel[i] - 1) * dilations[i] + 1;
    outShape.push_back(ShapedType::isDynamic(in) ? ShapedType::kDynamic
                                                 : in + low[i] + high[i] - effective + 1);
  }
  auto resultType = RankedTensorType::get(outShape, elem);
  SmallVector<int64_t> padding = {low[0], low[1], high[0], high[1]};
  SmallVector<int64_t> unit(2, 1);
  Value y = compress::Conv2DOp::create(b, loc, resultType, x, convWeight, bias, unit,
                                       padding, dilations, uint64_t(group));
  if (oneD) {
    SmallVector<OpFoldResult> ySizes = mixedSizes(b, loc, y);
    ySizes.erase(ySizes.begin() + 2);
    y = reshapeTensor(b, loc, y, ySizes);
  }
  ctx.setOutput(0, y);
  return success();
}

/// BatchNormalization in inference mode:
/// Y = scale * (X - mean) / sqrt(var + epsilon) + B.
LogicalResult importBatchNormalization(NodeContext &ctx) {
  Value x = ctx.input(0);
  if (!x)
    return failure();
  SmallVector<Value> params;
  for (unsigned i = 1; i <= 4; ++i) {
    if (!ctx.hasInput(i))
      return ctx.error() << "expects 5 inputs (X, scale, B, mean, var)";
    Value p = ctx.input(i);
    if (!p)
      return failure();
    params.push_back(p);
  }
  float epsilon = ctx.floatAttr("epsilon", 1e-5f);
  ctx.floatAttr("momentum", 0.9f); // only updates running statistics in training
  if (ctx.opset < 7 && ctx.intAttr("is_test", 0) == 0)
    return ctx.error() << "unsupported training mode (is_test=0): only inference "
                          "(is_test=1) is supported";
  if (ctx.opset >= 14 && ctx.intAttr("training_mode", 0) != 0)
    return ctx.error() << "unsupported training mode (training_mode=1): only "
                          "inference is supported";
  // Opsets 6 to 8: spatial=0 gives per-activation parameters of shape
  // [C, D1, ...], handled below by their rank.
  if (ctx.opset < 9)
    ctx.intAttr("spatial", 1);
  for (unsigned i = 1; i < ctx.numOutputs(); ++i)
    if (ctx.hasOutput(i))
      return ctx.error() << "unsupported training-mode output " << i
                         << " (only Y is supported)";

  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Type elem = elemOf(x);
  if (!isFloat(elem))
    return ctx.error() << "unsupported non-floating-point input of type " << elem;
  int64_t rank = typeOf(x).getRank();
  if (rank < 2)
    return ctx.error() << "expects an input of rank >= 2, got rank " << rank;
  // Parameters of shape [C, ...] are aligned with dimension 1 of X.
  SmallVector<Value> operands = {x};
  for (Value p : params) {
    int64_t prank = typeOf(p).getRank();
    if (prank < 1 || prank > rank - 1)
      return ctx.error() << "expects parameters of rank 1 to " << rank - 1
                         << ", got rank " << prank;
    if (!isFloat(elemOf(p)))
      return ctx.error() << "unsupported non-floating-point parameter";
    SmallVector<OpFoldResult> sizes = {b.getIndexAttr(1)};
    llvm::append_range(sizes, mixedSizes(b, loc, p));
    sizes.append(rank - 1 - prank, b.getIndexAttr(1));
    operands.push_back(reshapeTensor(b, loc, p, sizes));
  }
  auto y = broadcastMap(ctx, operands, elem, [&](OpBuilder &nb, Location l, ValueRange a) {
    auto asElem = [&](Value v) { return castScalar(nb, l, v, elem, false, false); };
    Value scale = asElem(a[1]), shift = asElem(a[2]), mean = asElem(a[3]), var = asElem(a[4]);
    Value centered = arith::SubFOp::create(nb, l, a[0], mean);
    Value scaled = arith::MulFOp::create(nb, l, scale, centered);
    Value sd = math::SqrtOp::create(
        nb, l, arith::AddFOp::create(nb, l, var, scalarConstant(nb, l, elem, epsilon)));
    Value normalized = arith::DivFOp::create(nb, l, scaled, sd);
    return arith::AddFOp::create(nb, l, normalized, shift).getResult();
  });
  if (failed(y))
    return failure();
  if (typeOf(*y).getRank() != rank)
    return ctx.error() << "parameters do not broadcast to the input";
  ctx.setOutput(0, *y);
  return success();
}

/// The kernel_shape attribute of a pooling node over `input`.
FailureOr<SmallVector<int64_t>> poolKernel(NodeContext &ctx, Value input) {
  int64_t rank = typeOf(input).getRank();
  if (rank < 3)
    return ctx.error() << "expects an input of rank >= 3 ([N, C, spatial...]), got rank "
                       << rank,
           failure();
  std::optional<SmallVector<int64_t>> kernel = ctx.intsAttr("kernel_shape");
  if (!kernel)
    return ctx.error() << "missing attribute 'kernel_shape'", failure();
  if (int64_t(kernel->size()) != rank - 2)
    return ctx.error() << "'kernel_shape' has " << kernel->size()
                       << " values, expected " << rank - 2,
           failure();
  return *kernel;
}

LogicalResult importMaxPool(NodeContext &ctx) {
  Value x = ctx.input(0);
  if (!x)
    return failure();
  auto kernel = poolKernel(ctx, x);
  if (failed(kernel))
    return failure();
  if (ctx.opset >= 8) {
    // storage_order only lays out the Indices output.
    ctx.intAttr("storage_order", 0);
    if (ctx.hasOutput(1))
      return ctx.error() << "unsupported output 'Indices' (only Y is supported)";
  }
  bool ceilMode = ctx.opset >= 10 && ctx.intAttr("ceil_mode", 0) != 0;
  Window w;
  if (failed(readWindow(ctx, x, *kernel, /*hasDilations=*/ctx.opset >= 10, ceilMode, w)))
    return failure();
  Type elem = elemOf(x);
  bool u = ctx.isUnsigned(0);
  if (elem.isInteger(1))
    return ctx.error() << "unsupported boolean input";
  OpBuilder &b = ctx.b;
  TypedAttr lowest = lowestAttr(b, elem, u);
  SmallVector<int64_t> high;
  for (size_t i = 0; i < w.kernel.size(); ++i)
    high.push_back(w.padHigh[i] + w.ceilExtra[i]);
  Value padded = padSpatial(b, ctx.loc, x, w.padLow, high, lowest);
  Value y = poolWindows(b, ctx.loc, padded, w, lowest,
                        [&](OpBuilder &nb, Location l, ValueRange a) {
                          if (isFloat(elem))
                            return arith::MaximumFOp::create(nb, l, a[0], a[1]).getResult();
                          return u ? arith::MaxUIOp::create(nb, l, a[0], a[1]).getResult()
                                   : arith::MaxSIOp::create(nb, l, a[0], a[1]).getResult();
                        });
  ctx.setOutput(0, y, u);
  return success();
}

/// AveragePool: a sum pool of the zero-padded input divided by the number of
/// window elements counted, itself a sum pool of ones padded the same way.
LogicalResult importAveragePool(NodeContext &ctx) {
  Value x = ctx.input(0);
  if (!x)
    return failure();
  auto kernel = poolKernel(ctx, x);
  if (failed(kernel))
    return failure();
  bool countIncludePad = ctx.opset >= 7 && ctx.intAttr("count_include_pad", 0) != 0;
  bool ceilMode = ctx.opset >= 10 && ctx.intAttr("ceil_mode", 0) != 0;
  Window w;
  if (failed(readWindow(ctx, x, *kernel, /*hasDilations=*/ctx.opset >= 19, ceilMode, w)))
    return failure();
  Type elem = elemOf(x);
  if (!isFloat(elem))
    return ctx.error() << "unsupported non-floating-point input of type " << elem;
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  TypedAttr zero = scalarAttr(b, elem, 0), one = scalarAttr(b, elem, 1);
  auto add = [](OpBuilder &nb, Location l, ValueRange a) {
    return arith::AddFOp::create(nb, l, a[0], a[1]).getResult();
  };
  size_t k = w.kernel.size();
  SmallVector<int64_t> high, noPad(k, 0);
  for (size_t i = 0; i < k; ++i)
    high.push_back(w.padHigh[i] + w.ceilExtra[i]);
  Value sum = poolWindows(b, loc, padSpatial(b, loc, x, w.padLow, high, zero), w, zero, add);

  bool noCeilExtra = llvm::all_of(w.ceilExtra, [](int64_t p) { return p == 0; });
  if (!w.padded() || (countIncludePad && noCeilExtra)) {
    // Every window counts all its elements.
    double count = double(product(w.kernel));
    ctx.setOutput(0, mapTensor(b, loc, sum, elem, [&](OpBuilder &nb, Location l, ValueRange a) {
      return arith::DivFOp::create(nb, l, a[0], scalarConstant(nb, l, elem, count)).getResult();
    }));
    return success();
  }
  // Ones of shape [1, 1, spatial...]: explicit padding counts as ones when
  // count_include_pad is set; what ceil_mode adds never counts.
  SmallVector<OpFoldResult> onesSizes = mixedSizes(b, loc, x);
  onesSizes[0] = onesSizes[1] = b.getIndexAttr(1);
  Value ones = linalg::FillOp::create(b, loc, arith::ConstantOp::create(b, loc, one).getResult(),
                                      emptyTensor(b, loc, onesSizes, elem))
                   .getResult(0);
  if (countIncludePad) {
    ones = padSpatial(b, loc, ones, w.padLow, w.padHigh, one);
    ones = padSpatial(b, loc, ones, noPad, w.ceilExtra, zero);
  } else {
    ones = padSpatial(b, loc, ones, w.padLow, high, zero);
  }
  Value count = poolWindows(b, loc, ones, w, zero, add);
  auto y = broadcastMap(ctx, {sum, count}, elem, [](OpBuilder &nb, Location l, ValueRange a) {
    return arith::DivFOp::create(nb, l, a[0], a[1]).getResult();
  });
  if (failed(y))
    return failure();
  ctx.setOutput(0, *y);
  return success();
}

/// GlobalAveragePool / GlobalMaxPool: reduce every spatial dimension, kept as 1.
template <bool IsMax>
LogicalResult importGlobalPool(NodeContext &ctx) {
  Value x = ctx.input(0);
  if (!x)
    return failure();
  int64_t rank = typeOf(x).getRank();
  if (rank < 2)
    return ctx.error() << "expects an input of rank >= 2 ([N, C, spatial...]), got rank "
                       << rank;
  Type elem = elemOf(x);
  if (!isFloat(elem))
    return ctx.error() << "unsupported non-floating-point input of type " << elem;
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  SmallVector<int64_t> axes = llvm::to_vector(llvm::seq<int64_t>(2, rank));
  if (IsMax) {
    ctx.setOutput(0, reduceAxes(b, loc, x, axes, /*keepDims=*/true, lowestAttr(b, elem, false),
                                [](OpBuilder &nb, Location l, ValueRange a) {
                                  return arith::MaximumFOp::create(nb, l, a[0], a[1]).getResult();
                                }));
    return success();
  }
  Value sum = reduceAxes(b, loc, x, axes, /*keepDims=*/true, scalarAttr(b, elem, 0),
                         [](OpBuilder &nb, Location l, ValueRange a) {
                           return arith::AddFOp::create(nb, l, a[0], a[1]).getResult();
                         });
  // The element count of the spatial dimensions, folded when static.
  int64_t staticCount = 1;
  SmallVector<Value> dynamicSizes;
  for (int64_t d : axes) {
    if (typeOf(x).isDynamicDim(d))
      dynamicSizes.push_back(tensor::DimOp::create(b, loc, x, d));
    else
      staticCount *= typeOf(x).getDimSize(d);
  }
  Value count = scalarConstant(b, loc, elem, double(staticCount));
  for (Value size : dynamicSizes) {
    Value i64 = arith::IndexCastOp::create(b, loc, b.getI64Type(), size);
    count = arith::MulFOp::create(b, loc, count, castScalar(b, loc, i64, elem, false, false));
  }
  ctx.setOutput(0, mapTensor(b, loc, sum, elem, [&](OpBuilder &nb, Location l, ValueRange a) {
    return arith::DivFOp::create(nb, l, a[0], count).getResult();
  }));
  return success();
}

} // namespace

void compress::appendNNOps(llvm::SmallVectorImpl<OpTableEntry> &t) {
  constexpr int64_t kMax = 21;
  t.append({
      {"Conv", 1, kMax, importConv},
      {"ConvTranspose", 1, kMax, importConvTranspose},
      {"BatchNormalization", 6, kMax, importBatchNormalization},
      {"MaxPool", 1, kMax, importMaxPool},
      {"AveragePool", 1, kMax, importAveragePool},
      {"GlobalAveragePool", 1, kMax, importGlobalPool<false>},
      {"GlobalMaxPool", 1, kMax, importGlobalPool<true>},
  });
}
