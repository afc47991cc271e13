// Resize: nearest and (multi-)linear interpolation with the ONNX coordinate
// transformation modes, as one gather-style linalg.generic.
#include "lib/importer/onnx/Builders.h"

using namespace compress;
using namespace mlir;
using llvm::SmallVector;

namespace {

/// What the node asks for, checked and normalised.
struct ResizeSpec {
  std::string mode, coordinates, nearestMode;
  SmallVector<int64_t> outShape;
  SmallVector<double> scales; // per dimension, output / input
};

LogicalResult readSpec(NodeContext &ctx, ResizeSpec &spec) {
  auto type = ctx.inputType(0);
  int64_t rank = type.getRank();
  if (!type.hasStaticShape())
    return ctx.error() << "unsupported Resize of an input with dynamic shape";
  spec.mode = ctx.stringAttr("mode", "nearest");
  spec.coordinates = ctx.stringAttr("coordinate_transformation_mode", "half_pixel");
  spec.nearestMode = ctx.stringAttr("nearest_mode", "round_prefer_floor");
  ctx.floatAttr("cubic_coeff_a", -0.75f); // only used by cubic, rejected below
  if (spec.mode != "nearest" && spec.mode != "linear")
    return ctx.error() << "unsupported mode '" << spec.mode << "'";
  if (spec.coordinates != "half_pixel" && spec.coordinates != "asymmetric" &&
      spec.coordinates != "align_corners" && spec.coordinates != "pytorch_half_pixel")
    return ctx.error() << "unsupported coordinate_transformation_mode '"
                       << spec.coordinates << "'";
  if (spec.nearestMode != "round_prefer_floor" && spec.nearestMode != "round_prefer_ceil" &&
      spec.nearestMode != "floor" && spec.nearestMode != "ceil")
    return ctx.error() << "unsupported nearest_mode '" << spec.nearestMode << "'";
  if (ctx.intAttr("exclude_outside", 0) != 0)
    return ctx.error() << "unsupported exclude_outside=1";
  ctx.floatAttr("extrapolation_value", 0.0f); // only used by tf_crop_and_resize
  if (ctx.intAttr("antialias", 0) != 0)
    return ctx.error() << "unsupported antialias=1";
  std::string policy = ctx.stringAttr("keep_aspect_ratio_policy", "stretch");
  if (policy != "stretch")
    return ctx.error() << "unsupported keep_aspect_ratio_policy '" << policy << "'";

  SmallVector<int64_t> axes;
  if (auto a = ctx.intsAttr("axes")) {
    for (int64_t axis : *a) {
      auto n = normalizeAxis(ctx, axis, rank);
      if (failed(n))
        return failure();
      axes.push_back(*n);
    }
  } else {
    for (int64_t d = 0; d < rank; ++d)
      axes.push_back(d);
  }
  ArrayRef<int64_t> in = type.getShape();
  spec.outShape.assign(in.begin(), in.end());
  spec.scales.assign(rank, 1.0);
  std::optional<std::vector<double>> scales = ctx.hasInput(2) ? ctx.constFloats(2) : std::nullopt;
  std::optional<SmallVector<int64_t>> sizes = ctx.hasInput(3) ? ctx.constInts(3) : std::nullopt;
  if (scales && !scales->empty()) {
    if (scales->size() != axes.size())
      return ctx.error() << "scales has " << scales->size() << " values for "
                         << axes.size() << " axes";
    for (auto [i, axis] : llvm::enumerate(axes)) {
      spec.scales[axis] = (*scales)[i];
      spec.outShape[axis] = int64_t(std::floor(in[axis] * (*scales)[i]));
    }
  } else if (sizes && !sizes->empty()) {
    if (sizes->size() != axes.size())
      return ctx.error() << "sizes has " << sizes->size() << " values for "
                         << axes.size() << " axes";
    for (auto [i, axis] : llvm::enumerate(axes)) {
      spec.outShape[axis] = (*sizes)[i];
      spec.scales[axis] = double((*sizes)[i]) / double(in[axis]);
    }
  } else {
    return ctx.error() << "scales or sizes must be given as constants";
  }
  for (int64_t d = 0; d < rank; ++d)
    if (spec.outShape[d] <= 0 || spec.scales[d] <= 0)
      return ctx.error() << "resizes dimension " << d << " to " << spec.outShape[d];
  return success();
}

/// The input coordinate (as f32) that output index `i` of one axis maps to.
Value sourceCoordinate(OpBuilder &b, Location l, const ResizeSpec &spec,
                       int64_t dim, int64_t inSize, Value i) {
  Type f32 = b.getF32Type();
  Value x = arith::SIToFPOp::create(b, l, f32,
                                    arith::IndexCastOp::create(b, l, b.getI64Type(), i));
  auto c = [&](double v) { return scalarConstant(b, l, f32, v); };
  double scale = spec.scales[dim];
  int64_t outSize = spec.outShape[dim];
  if (spec.coordinates == "asymmetric")
    return arith::DivFOp::create(b, l, x, c(scale));
  if (spec.coordinates == "align_corners") {
    // The spec's resized length is input * scale, before rounding down.
    double resizedLength = double(inSize) * scale;
    if (resizedLength == 1.0)
      return c(0);
    return arith::MulFOp::create(b, l, x, c(double(inSize - 1) / (resizedLength - 1.0)));
  }
  if (spec.coordinates == "pytorch_half_pixel" && outSize == 1)
    return c(0);
  Value shifted = arith::AddFOp::create(b, l, x, c(0.5));
  return arith::SubFOp::create(b, l, arith::DivFOp::create(b, l, shifted, c(scale)), c(0.5));
}

Value clampIndex(OpBuilder &b, Location l, Value v, int64_t size) {
  v = arith::MaxSIOp::create(b, l, v, scalarConstant(b, l, v.getType(), 0));
  return arith::MinSIOp::create(b, l, v, scalarConstant(b, l, v.getType(), double(size - 1)));
}

/// Nearest neighbour index along one axis, rounded as nearest_mode says.
Value nearestIndex(OpBuilder &b, Location l, const ResizeSpec &spec, Value x, int64_t inSize) {
  Type f32 = b.getF32Type();
  Value rounded;
  if (spec.nearestMode == "floor") {
    rounded = math::FloorOp::create(b, l, x);
  } else if (spec.nearestMode == "ceil") {
    rounded = math::CeilOp::create(b, l, x);
  } else {
    // Halfway cases go down (prefer_floor) or up (prefer_ceil).
    Value half = scalarConstant(b, l, f32, 0.5);
    if (spec.nearestMode == "round_prefer_floor")
      rounded = math::CeilOp::create(b, l, arith::SubFOp::create(b, l, x, half));
    else
      rounded = math::FloorOp::create(b, l, arith::AddFOp::create(b, l, x, half));
  }
  Value i = arith::FPToSIOp::create(b, l, b.getI64Type(), rounded);
  i = clampIndex(b, l, i, inSize);
  return arith::IndexCastOp::create(b, l, b.getIndexType(), i);
}

LogicalResult importResize(NodeContext &ctx) {
  ResizeSpec spec;
  if (failed(readSpec(ctx, spec)))
    return failure();
  Value x = ctx.input(0);
  if (!x)
    return failure();
  auto type = ctx.inputType(0);
  if (!isa<FloatType>(type.getElementType()))
    return ctx.error() << "unsupported non-float input";
  int64_t rank = type.getRank();
  ArrayRef<int64_t> in = type.getShape();
  OpBuilder &b = ctx.b;
  SmallVector<OpFoldResult> sizes;
  for (int64_t s : spec.outShape)
    sizes.push_back(b.getIndexAttr(s));
  Value out = generateTensor(
      b, ctx.loc, sizes, type.getElementType(), [&](OpBuilder &nb, Location l, ValueRange ivs) {
        Type elem = type.getElementType();
        if (spec.mode == "nearest") {
          SmallVector<Value> idx;
          for (int64_t d = 0; d < rank; ++d) {
            Value i = ivs[d];
            if (spec.outShape[d] == in[d] && spec.scales[d] == 1.0) {
              idx.push_back(i);
              continue;
            }
            Value src = sourceCoordinate(nb, l, spec, d, in[d], i);
            idx.push_back(nearestIndex(nb, l, spec, src, in[d]));
          }
          return tensor::ExtractOp::create(nb, l, x, idx).getResult();
        }
        // Linear: blend the 2^k corners around the source point, k the
        // number of resized axes; indices clamp to the edge.
        SmallVector<Value> lo(rank), hi(rank), frac(rank);
        SmallVector<int64_t> resized;
        for (int64_t d = 0; d < rank; ++d) {
          Value i = ivs[d];
          if (spec.outShape[d] == in[d] && spec.scales[d] == 1.0) {
            lo[d] = i;
            continue;
          }
          resized.push_back(d);
          Value src = sourceCoordinate(nb, l, spec, d, in[d], i);
          Value zero = scalarConstant(nb, l, nb.getF32Type(), 0);
          Value maxCoord = scalarConstant(nb, l, nb.getF32Type(), double(in[d] - 1));
          src = arith::MinimumFOp::create(nb, l, arith::MaximumFOp::create(nb, l, src, zero), maxCoord);
          Value floor = math::FloorOp::create(nb, l, src);
          frac[d] = arith::SubFOp::create(nb, l, src, floor);
          Value loIdx = arith::FPToSIOp::create(nb, l, nb.getI64Type(), floor);
          Value hiIdx = arith::AddIOp::create(nb, l, loIdx, scalarConstant(nb, l, nb.getI64Type(), 1));
          lo[d] = arith::IndexCastOp::create(nb, l, nb.getIndexType(), clampIndex(nb, l, loIdx, in[d]));
          hi[d] = arith::IndexCastOp::create(nb, l, nb.getIndexType(), clampIndex(nb, l, hiIdx, in[d]));
        }
        Value acc = scalarConstant(nb, l, nb.getF32Type(), 0);
        for (int64_t corner = 0; corner < (int64_t(1) << resized.size()); ++corner) {
          SmallVector<Value> idx(lo);
          Value weight = scalarConstant(nb, l, nb.getF32Type(), 1);
          for (auto [k, d] : llvm::enumerate(resized)) {
            bool upper = corner & (int64_t(1) << k);
            idx[d] = upper ? hi[d] : lo[d];
            Value w = upper ? frac[d]
                            : arith::SubFOp::create(nb, l, scalarConstant(nb, l, nb.getF32Type(), 1),
                                                    frac[d]).getResult();
            weight = arith::MulFOp::create(nb, l, weight, w);
          }
          Value v = tensor::ExtractOp::create(nb, l, x, idx);
          v = castScalar(nb, l, v, nb.getF32Type(), false, false);
          acc = arith::AddFOp::create(nb, l, acc, arith::MulFOp::create(nb, l, weight, v));
        }
        return castScalar(nb, l, acc, elem, false, false);
      });
  ctx.setOutput(0, out);
  return success();
}

} // namespace

void compress::appendResizeOps(llvm::SmallVectorImpl<OpTableEntry> &t) {
  t.push_back({"Resize", 11, 18, importResize});
}
