// The recurrent layers RNN, GRU and LSTM: forward, reverse and
// bidirectional; activations from the ONNX list (with their alpha and
// beta); clip; initial states; sequence_lens (backwards, each sequence
// starts at its own end); layout 1 (batch first); LSTM peepholes; GRU
// linear_before_reset. Not taken: LSTM input_forget, dynamic sequence
// lengths, opset 1.
//
// The sequence is unrolled at import: its length must be static (it is in
// exported models, where the length is fixed by the export or the model
// runs once per token with length 1). Unrolled, each step is a few
// linalg ops on tensors that every lowering of the project already handles
// (fusion, bufferization, the CUDA target), with no loop-carried tensors
// through scf.for for those pipelines to bufferize and schedule; the cost is
// IR size, bounded by kMaxSteps.
//
// Per direction: XW = X W^T + Wb for all steps at once (one contraction),
// then per step HR = H R^T + Rb and one elementwise linalg.generic over
// [batch, hidden] computing the gates from XW[t] and HR viewed as
// [batch, gates, hidden]. Gate orders are ONNX's: GRU z, r, h; LSTM i, o,
// f, c (peepholes i, o, f).
#include "lib/importer/onnx/Builders.h"

#include "llvm/ADT/StringExtras.h"

using namespace compress;
using namespace mlir;
using llvm::SmallVector;

namespace {

/// Steps times directions beyond which a layer is refused (IR size).
constexpr int64_t kMaxSteps = 1024;

enum class Cell { RNN, GRU, LSTM };

/// The attribute `name` (marked read), if the node has it.
const onnx::AttributeProto *listAttr(NodeContext &ctx, StringRef name) {
  if (!ctx.hasAttr(name))
    return nullptr;
  for (const auto &a : ctx.node.attribute())
    if (a.name() == name)
      return &a;
  return nullptr;
}

/// One activation function of the ONNX list, with its alpha and beta.
struct Activation {
  std::string name; // lower case
  float alpha = 0, beta = 0;

  Value apply(OpBuilder &b, Location l, Value x) const {
    Type t = x.getType();
    auto c = [&](double v) { return scalarConstant(b, l, t, v); };
    auto sigmoid = [&](Value v) {
      Value e = math::ExpOp::create(b, l, arith::NegFOp::create(b, l, v));
      return arith::DivFOp::create(b, l, c(1), arith::AddFOp::create(b, l, c(1), e)).getResult();
    };
    if (name == "tanh")
      return math::TanhOp::create(b, l, x);
    if (name == "sigmoid")
      return sigmoid(x);
    if (name == "relu")
      return arith::MaximumFOp::create(b, l, x, c(0));
    if (name == "affine")
      return arith::AddFOp::create(b, l, arith::MulFOp::create(b, l, x, c(alpha)), c(beta));
    if (name == "leakyrelu") {
      Value neg = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OLT, x, c(0));
      return arith::SelectOp::create(b, l, neg, arith::MulFOp::create(b, l, x, c(alpha)), x);
    }
    if (name == "thresholdedrelu") {
      Value above = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGT, x, c(alpha));
      return arith::SelectOp::create(b, l, above, x, c(0));
    }
    if (name == "scaledtanh")
      return arith::MulFOp::create(
          b, l, c(alpha), math::TanhOp::create(b, l, arith::MulFOp::create(b, l, x, c(beta))));
    if (name == "hardsigmoid") {
      Value v = arith::AddFOp::create(b, l, arith::MulFOp::create(b, l, x, c(alpha)), c(beta));
      return arith::MinimumFOp::create(b, l, arith::MaximumFOp::create(b, l, v, c(0)), c(1));
    }
    if (name == "elu") {
      Value neg = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OLT, x, c(0));
      Value e = arith::MulFOp::create(
          b, l, c(alpha), arith::SubFOp::create(b, l, math::ExpOp::create(b, l, x), c(1)));
      return arith::SelectOp::create(b, l, neg, e, x);
    }
    if (name == "softsign")
      return arith::DivFOp::create(b, l, x,
                                   arith::AddFOp::create(b, l, c(1), math::AbsFOp::create(b, l, x)));
    assert(name == "softplus");
    return math::Log1pOp::create(b, l, math::ExpOp::create(b, l, x));
  }
};

/// How many alphas and betas an activation takes, and their defaults (those
/// of the ONNX op of that name); nullopt for an unknown name.
std::optional<std::pair<SmallVector<float>, SmallVector<float>>> activationParams(StringRef name) {
  using P = std::pair<SmallVector<float>, SmallVector<float>>;
  if (name == "tanh" || name == "sigmoid" || name == "relu" || name == "softsign" ||
      name == "softplus")
    return P{{}, {}};
  if (name == "leakyrelu")
    return P{{0.01f}, {}};
  if (name == "thresholdedrelu" || name == "elu")
    return P{{1.0f}, {}};
  if (name == "affine")
    return P{{1.0f}, {0.0f}};
  if (name == "scaledtanh")
    return P{{1.0f}, {1.0f}};
  if (name == "hardsigmoid")
    return P{{0.2f}, {0.5f}};
  return std::nullopt;
}

/// The activations of each direction: the `activations` attribute (per
/// direction, forward first) or the defaults. alpha and beta values are
/// consumed in order by the activations that take them (as onnxruntime
/// reads them); values left over are an error rather than a guess.
FailureOr<SmallVector<Activation>> readActivations(NodeContext &ctx, ArrayRef<StringRef> defaults,
                                                   int64_t directions) {
  SmallVector<std::string> names;
  if (const onnx::AttributeProto *listed = listAttr(ctx, "activations")) {
    if (int64_t(listed->strings_size()) != int64_t(defaults.size()) * directions)
      return ctx.error() << "attribute 'activations' lists " << listed->strings_size()
                         << " functions, expected " << defaults.size() * directions,
             failure();
    names.assign(listed->strings().begin(), listed->strings().end());
  } else {
    for (int64_t d = 0; d < directions; ++d)
      for (StringRef n : defaults)
        names.push_back(n.str());
  }
  SmallVector<float> alphas, betas;
  if (const onnx::AttributeProto *a = listAttr(ctx, "activation_alpha"))
    alphas.assign(a->floats().begin(), a->floats().end());
  if (const onnx::AttributeProto *a = listAttr(ctx, "activation_beta"))
    betas.assign(a->floats().begin(), a->floats().end());
  size_t nextAlpha = 0, nextBeta = 0;
  SmallVector<Activation> out;
  for (const std::string &n : names) {
    Activation a{llvm::StringRef(n).lower()};
    auto params = activationParams(a.name);
    if (!params)
      return ctx.error() << "unsupported activation '" << n << "' in attribute 'activations'",
             failure();
    if (!params->first.empty())
      a.alpha = nextAlpha < alphas.size() ? alphas[nextAlpha++] : params->first[0];
    if (!params->second.empty())
      a.beta = nextBeta < betas.size() ? betas[nextBeta++] : params->second[0];
    out.push_back(a);
  }
  if (nextAlpha < alphas.size() || nextBeta < betas.size())
    return ctx.error() << "unsupported 'activation_alpha'/'activation_beta': "
                       << alphas.size() << "/" << betas.size() << " values, but the activations take "
                       << nextAlpha << "/" << nextBeta,
           failure();
  return out;
}

/// Builds one layer: the shapes, attributes and the IR of each step.
struct Layer {
  NodeContext &ctx;
  OpBuilder &b;
  Location loc;
  Cell cell;
  Type elem;
  int64_t hidden = 0, gates = 0, directions = 1;
  OpFoldResult batch;
  std::optional<float> clip;
  bool linearBeforeReset = false;
  SmallVector<Activation> acts; // per direction, consecutive

  Layer(NodeContext &ctx, Cell cell) : ctx(ctx), b(ctx.b), loc(ctx.loc), cell(cell) {}

  /// t[d] of a tensor with the directions first, as a tensor of one rank less.
  Value direction(Value t, int64_t d) {
    auto type = cast<RankedTensorType>(t.getType());
    SmallVector<OpFoldResult> offsets(type.getRank(), b.getIndexAttr(0));
    SmallVector<OpFoldResult> sizes = mixedSizes(b, loc, t);
    SmallVector<OpFoldResult> strides(type.getRank(), b.getIndexAttr(1));
    offsets[0] = b.getIndexAttr(d);
    sizes[0] = b.getIndexAttr(1);
    auto resultType = RankedTensorType::get(type.getShape().drop_front(), type.getElementType());
    return tensor::ExtractSliceOp::create(b, loc, resultType, t, offsets, sizes, strides);
  }

  /// Entries [from, from + n) of a 1-D tensor.
  Value range(Value v, int64_t from, int64_t n) {
    auto resultType = RankedTensorType::get({n}, elem);
    return tensor::ExtractSliceOp::create(b, loc, resultType, v, ArrayRef<OpFoldResult>{b.getIndexAttr(from)},
                                          ArrayRef<OpFoldResult>{b.getIndexAttr(n)},
                                          ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
  }

  /// lhs[.., k] * rhs[n, k] summed over k, plus bias[n] when given.
  Value contract(Value lhs, Value rhs, Value bias) {
    MLIRContext *mctx = b.getContext();
    int64_t r = cast<RankedTensorType>(lhs.getType()).getRank();
    int64_t n = cast<RankedTensorType>(rhs.getType()).getDimSize(0);
    SmallVector<OpFoldResult> sizes = mixedSizes(b, loc, lhs);
    sizes.back() = b.getIndexAttr(n);
    Value init;
    if (bias) {
      init = *broadcastTo(ctx, bias, sizes);
    } else {
      init = linalg::FillOp::create(b, loc, scalarConstant(b, loc, elem, 0),
                                    emptyTensor(b, loc, sizes, elem))
                 .getResult(0);
    }
    // Loops: the r - 1 leading dims, n, then k.
    SmallVector<AffineExpr> lhsExprs, outExprs;
    for (int64_t d = 0; d < r - 1; ++d)
      lhsExprs.push_back(getAffineDimExpr(d, mctx));
    outExprs = lhsExprs;
    lhsExprs.push_back(getAffineDimExpr(r, mctx));
    outExprs.push_back(getAffineDimExpr(r - 1, mctx));
    SmallVector<AffineExpr> rhsExprs = {getAffineDimExpr(r - 1, mctx), getAffineDimExpr(r, mctx)};
    SmallVector<AffineMap> maps = {AffineMap::get(r + 1, 0, lhsExprs, mctx),
                                   AffineMap::get(r + 1, 0, rhsExprs, mctx),
                                   AffineMap::get(r + 1, 0, outExprs, mctx)};
    SmallVector<utils::IteratorType> iterators(r, utils::IteratorType::parallel);
    iterators.push_back(utils::IteratorType::reduction);
    return linalg::GenericOp::create(
               b, loc, TypeRange{init.getType()}, ValueRange{lhs, rhs}, ValueRange{init}, maps,
               iterators,
               [](OpBuilder &nb, Location l, ValueRange a) {
                 Value p = arith::MulFOp::create(nb, l, a[0], a[1]);
                 linalg::YieldOp::create(nb, l, arith::AddFOp::create(nb, l, a[2], p).getResult());
               })
        .getResult(0);
  }

  /// [B, G*H] viewed as [B, G, H].
  Value byGate(Value v, int64_t g) {
    return reshapeTensor(b, loc, v, {batch, b.getIndexAttr(g), b.getIndexAttr(hidden)});
  }

  Value clipped(OpBuilder &nb, Location l, Value x) const {
    if (!clip)
      return x;
    Value hi = scalarConstant(nb, l, x.getType(), *clip);
    Value lo = scalarConstant(nb, l, x.getType(), -*clip);
    return arith::MinimumFOp::create(nb, l, arith::MaximumFOp::create(nb, l, x, lo), hi);
  }

  /// An elementwise linalg.generic over [B, H]. Each input is a [B, H]
  /// tensor, a [B, G, H] one read at gate g ({tensor, g}), a [H] vector
  /// (peepholes) or, with g = -2, a [B] vector (sequence lengths).
  struct In {
    Value v;
    int64_t gate = -1;
  };
  SmallVector<Value> elementwise(ArrayRef<In> ins, unsigned numResults,
                                 function_ref<SmallVector<Value>(OpBuilder &, Location, ValueRange)> fn) {
    MLIRContext *mctx = b.getContext();
    AffineExpr d0 = getAffineDimExpr(0, mctx), d1 = getAffineDimExpr(1, mctx);
    SmallVector<AffineMap> maps;
    SmallVector<Value> operands;
    for (const In &in : ins) {
      operands.push_back(in.v);
      int64_t rank = cast<RankedTensorType>(in.v.getType()).getRank();
      if (in.gate >= 0)
        maps.push_back(AffineMap::get(2, 0, {d0, getAffineConstantExpr(in.gate, mctx), d1}, mctx));
      else if (in.gate == -2)
        maps.push_back(AffineMap::get(2, 0, {d0}, mctx));
      else if (rank == 1)
        maps.push_back(AffineMap::get(2, 0, {d1}, mctx));
      else
        maps.push_back(AffineMap::get(2, 0, {d0, d1}, mctx));
    }
    SmallVector<Value> inits;
    SmallVector<Type> types;
    for (unsigned i = 0; i < numResults; ++i) {
      inits.push_back(emptyTensor(b, loc, {batch, b.getIndexAttr(hidden)}, elem));
      types.push_back(inits.back().getType());
      maps.push_back(AffineMap::getMultiDimIdentityMap(2, mctx));
    }
    SmallVector<utils::IteratorType> iterators(2, utils::IteratorType::parallel);
    auto generic = linalg::GenericOp::create(
        b, loc, types, operands, inits, maps, iterators,
        [&](OpBuilder &nb, Location l, ValueRange a) {
          linalg::YieldOp::create(nb, l, fn(nb, l, a.take_front(ins.size())));
        });
    return SmallVector<Value>(generic.getResults().begin(), generic.getResults().end());
  }
};

/// Reads input i, or nullptr when absent.
FailureOr<Value> optionalInput(NodeContext &ctx, unsigned i) {
  if (!ctx.hasInput(i))
    return Value();
  Value v = ctx.input(i);
  if (!v)
    return failure();
  return v;
}

template <Cell C>
LogicalResult importRecurrent(NodeContext &ctx) {
  Layer layer(ctx, C);
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  layer.gates = C == Cell::RNN ? 1 : C == Cell::GRU ? 3 : 4;
  int64_t G = layer.gates;

  // Attributes.
  std::string dir = ctx.stringAttr("direction", "forward");
  if (dir != "forward" && dir != "reverse" && dir != "bidirectional")
    return ctx.error() << "unsupported direction '" << dir << "'";
  layer.directions = dir == "bidirectional" ? 2 : 1;
  int64_t layout = ctx.opset >= 14 ? ctx.intAttr("layout", 0) : 0;
  if (layout != 0 && layout != 1)
    return ctx.error() << "unsupported layout " << layout;
  if (ctx.hasAttr("clip"))
    layer.clip = ctx.floatAttr("clip", 0);
  if (C == Cell::GRU)
    layer.linearBeforeReset = ctx.intAttr("linear_before_reset", 0) != 0;
  if (C == Cell::LSTM && ctx.intAttr("input_forget", 0) != 0)
    return ctx.error() << "unsupported attribute 'input_forget' = 1";
  SmallVector<StringRef> defaults;
  if (C == Cell::RNN)
    defaults = {"tanh"};
  else if (C == Cell::GRU)
    defaults = {"sigmoid", "tanh"};
  else
    defaults = {"sigmoid", "tanh", "tanh"};
  auto acts = readActivations(ctx, defaults, layer.directions);
  if (failed(acts))
    return failure();
  layer.acts = *acts;

  // Shapes. X, W and R are required (an absent one is reported by input()).
  Value x = ctx.input(0), w = ctx.input(1), r = ctx.input(2);
  if (!x || !w || !r)
    return failure();
  RankedTensorType xType = ctx.inputType(0), wType = ctx.inputType(1), rType = ctx.inputType(2);
  layer.elem = xType.getElementType();
  if (!isa<FloatType>(layer.elem))
    return ctx.error() << "unsupported non-floating-point input of type " << layer.elem;
  if (xType.getRank() != 3 || wType.getRank() != 3 || rType.getRank() != 3)
    return ctx.error() << "X, W and R must have rank 3";
  if (wType.getElementType() != layer.elem || rType.getElementType() != layer.elem)
    return ctx.error() << "W and R must have the element type of X";
  int64_t H = rType.getDimSize(2);
  if (ShapedType::isDynamic(H))
    return ctx.error() << "unsupported dynamic hidden size (dimension 2 of R)";
  if (ctx.hasAttr("hidden_size") && ctx.intAttr("hidden_size", 0) != H)
    return ctx.error() << "hidden_size " << ctx.intAttr("hidden_size", 0)
                       << " does not match R's last dimension " << H;
  layer.hidden = H;
  for (RankedTensorType t : {wType, rType})
    if (t.getDimSize(0) != layer.directions || t.getDimSize(1) != G * H)
      return ctx.error() << "W and R must be [" << layer.directions << ", " << G * H
                         << ", ...] for direction '" << dir << "' and hidden size " << H
                         << ", but they are " << wType << " and " << rType;
  // The optional inputs' shapes (a dynamic size matches anything).
  int64_t D = layer.directions, N = xType.getDimSize(layout == 0 ? 1 : 0);
  auto matches = [](int64_t have, int64_t want) {
    return ShapedType::isDynamic(have) || ShapedType::isDynamic(want) || have == want;
  };
  if (!matches(xType.getDimSize(2), wType.getDimSize(2)))
    return ctx.error() << "X has " << xType.getDimSize(2) << " features but W takes "
                       << wType.getDimSize(2);
  SmallVector<int64_t> stateShape = layout == 0 ? SmallVector<int64_t>{D, N, H}
                                                : SmallVector<int64_t>{N, D, H};
  struct Expected {
    unsigned input;
    const char *name;
    SmallVector<int64_t> shape;
  };
  SmallVector<Expected> expected = {{3, "B", {D, 2 * G * H}}, {4, "sequence_lens", {N}},
                                    {5, "initial_h", stateShape}};
  if (C == Cell::LSTM) {
    expected.push_back({6, "initial_c", stateShape});
    expected.push_back({7, "P", {D, 3 * H}});
  }
  for (const Expected &e : expected) {
    if (!ctx.hasInput(e.input))
      continue;
    RankedTensorType t = ctx.inputType(e.input);
    bool ok = t.getRank() == int64_t(e.shape.size());
    for (int64_t k = 0; ok && k < t.getRank(); ++k)
      ok = matches(t.getDimSize(k), e.shape[k]);
    if (!ok) {
      auto diag = ctx.error() << "input '" << e.name << "' must be [";
      llvm::interleaveComma(e.shape, diag, [&](int64_t v) {
        if (ShapedType::isDynamic(v))
          diag << "?";
        else
          diag << v;
      });
      return diag << "], but it is " << t;
    }
  }
  int64_t T = xType.getDimSize(layout == 0 ? 0 : 1);
  if (ShapedType::isDynamic(T))
    return ctx.error() << "unsupported dynamic sequence length (dimension " << layout
                       << " of X): the sequence is unrolled at import";
  if (T * layer.directions > kMaxSteps)
    return ctx.error() << "unsupported sequence length " << T << ": the sequence is unrolled at "
                       << "import, up to " << kMaxSteps << " steps";

  auto bias = optionalInput(ctx, 3), lens = optionalInput(ctx, 4), h0 = optionalInput(ctx, 5);
  FailureOr<Value> c0 = Value(), peep = Value();
  if (C == Cell::LSTM) {
    c0 = optionalInput(ctx, 6);
    peep = optionalInput(ctx, 7);
  }
  if (failed(bias) || failed(lens) || failed(h0) || failed(c0) || failed(peep))
    return failure();
  if (layout == 1) { // [B, T, I] -> [T, B, I]; states [B, D, H] -> [D, B, H]
    x = transposeTensor(b, loc, x, {1, 0, 2});
    if (*h0)
      *h0 = transposeTensor(b, loc, *h0, {1, 0, 2});
    if (*c0)
      *c0 = transposeTensor(b, loc, *c0, {1, 0, 2});
  }
  layer.batch = mixedSizes(b, loc, x)[1];
  // sequence_lens: lengths equal to T everywhere (a constant) change
  // nothing. Otherwise step s of batch entry b is valid when s < len[b]:
  // past its length an entry keeps its state and gives zeros. Backwards,
  // entry b starts at its own last element, len[b] - 1 (see stepInput).
  if (*lens) {
    std::optional<SmallVector<int64_t>> known = ctx.constInts(4);
    if (known && llvm::all_of(*known, [&](int64_t n) { return n == T; }))
      *lens = Value();
    else if (!isa<IntegerType>(ctx.inputType(4).getElementType()))
      return ctx.error() << "input 'sequence_lens' must hold integers";
  }
  for (Value v : {*bias, *h0, *c0, *peep})
    if (v && cast<RankedTensorType>(v.getType()).getElementType() != layer.elem)
      return ctx.error() << "B, initial_h, initial_c and P must have the element type of X";

  Type elem = layer.elem;
  auto zeros = [&](ArrayRef<OpFoldResult> sizes) {
    return linalg::FillOp::create(b, loc, scalarConstant(b, loc, elem, 0),
                                  emptyTensor(b, loc, sizes, elem))
        .getResult(0);
  };
  OpFoldResult hSize = b.getIndexAttr(H), dSize = b.getIndexAttr(layer.directions);
  Value y = zeros({b.getIndexAttr(T), dSize, layer.batch, hSize});
  Value yh = zeros({dSize, layer.batch, hSize});
  Value yc = zeros({dSize, layer.batch, hSize});
  auto insert = [&](Value into, Value v, SmallVector<OpFoldResult> at) {
    // v [B, H] into `into` at `at` (leading indices), rank-reducing.
    int64_t rank = cast<RankedTensorType>(into.getType()).getRank();
    SmallVector<OpFoldResult> sizes(rank - 2, b.getIndexAttr(1));
    sizes.push_back(layer.batch);
    sizes.push_back(hSize);
    at.push_back(b.getIndexAttr(0));
    at.push_back(b.getIndexAttr(0));
    SmallVector<OpFoldResult> strides(rank, b.getIndexAttr(1));
    return tensor::InsertSliceOp::create(b, loc, v, into, at, sizes, strides).getResult();
  };

  for (int64_t d = 0; d < layer.directions; ++d) {
    bool reverse = dir == "reverse" || d == 1;
    const Activation *f = &layer.acts[d * defaults.size()];
    Value wd = layer.direction(w, d), rd = layer.direction(r, d);
    Value wb, rb;
    if (*bias) {
      Value bd = layer.direction(*bias, d);
      wb = layer.range(bd, 0, G * H);
      rb = layer.range(bd, G * H, G * H);
    }
    Value h = *h0 ? layer.direction(*h0, d) : zeros({layer.batch, hSize});
    Value c = *c0 ? layer.direction(*c0, d) : zeros({layer.batch, hSize});
    Value p = *peep ? layer.direction(*peep, d) : Value();
    // All steps' input projections at once: [T, B, G*H].
    Value xw = layer.contract(x, wd, wb);
    // GRU without linear_before_reset multiplies r * H by R_h: the z and r
    // gates' recurrent rows are used alone.
    bool gruSplit = C == Cell::GRU && !layer.linearBeforeReset;
    Value rGates = gruSplit ? tensor::ExtractSliceOp::create(
                                  b, loc, RankedTensorType::get({2 * H, H}, elem),
                                  rd, ArrayRef<OpFoldResult>{b.getIndexAttr(0), b.getIndexAttr(0)},
                                  ArrayRef<OpFoldResult>{b.getIndexAttr(2 * H), hSize},
                                  ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)})
                                  .getResult()
                            : rd;
    Value rbGates = rb && gruSplit ? layer.range(rb, 0, 2 * H) : rb;
    // Backwards with lengths, each entry starts at its own end: its steps
    // are gathered from XW and its outputs, kept in step order, put back.
    bool perEntry = reverse && *lens;
    Value byStep = perEntry ? zeros({b.getIndexAttr(T), layer.batch, hSize}) : Value();
    // The element entry b reads at step s backwards: len[b] - 1 - s with
    // len[b] at most T, 0 when negative.
    auto lastStepOf = [&](OpBuilder &nb, Location l, Value lenElem, int64_t s) {
      Type i64 = nb.getI64Type();
      Value len = castScalar(nb, l, lenElem, i64, false, false);
      len = arith::MinSIOp::create(nb, l, len, scalarConstant(nb, l, i64, T));
      Value at = arith::SubIOp::create(nb, l, len, scalarConstant(nb, l, i64, s + 1));
      at = arith::MaxSIOp::create(nb, l, at, scalarConstant(nb, l, i64, 0));
      return arith::IndexCastOp::create(nb, l, nb.getIndexType(), at).getResult();
    };
    for (int64_t s = 0; s < T; ++s) {
      int64_t t = reverse ? T - 1 - s : s;
      auto stepType = RankedTensorType::get(
          {cast<RankedTensorType>(xw.getType()).getDimSize(1), G * H}, elem);
      Value xwt;
      if (perEntry) {
        // Backwards with lengths: entry b reads element len[b] - 1 - s
        // (lengths past T count as T; a negative position is an invalid
        // step, whose result is discarded: it reads element 0).
        Value init = emptyTensor(b, loc, {layer.batch, b.getIndexAttr(G * H)}, elem);
        MLIRContext *mctx = b.getContext();
        AffineExpr d0 = getAffineDimExpr(0, mctx);
        xwt = linalg::GenericOp::create(
                  b, loc, TypeRange{init.getType()}, ValueRange{*lens}, ValueRange{init},
                  SmallVector<AffineMap>{AffineMap::get(2, 0, {d0}, mctx),
                                         AffineMap::getMultiDimIdentityMap(2, mctx)},
                  SmallVector<utils::IteratorType>(2, utils::IteratorType::parallel),
                  [&](OpBuilder &nb, Location l, ValueRange a) {
                    Value at = lastStepOf(nb, l, a[0], s);
                    Value e = linalg::IndexOp::create(nb, l, 0), n = linalg::IndexOp::create(nb, l, 1);
                    linalg::YieldOp::create(
                        nb, l, tensor::ExtractOp::create(nb, l, xw, ValueRange{at, e, n}).getResult());
                  })
                  .getResult(0);
      } else {
        xwt = tensor::ExtractSliceOp::create(
            b, loc, stepType, xw,
            ArrayRef<OpFoldResult>{b.getIndexAttr(t), b.getIndexAttr(0), b.getIndexAttr(0)},
            ArrayRef<OpFoldResult>{b.getIndexAttr(1), layer.batch, b.getIndexAttr(G * H)},
            ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1), b.getIndexAttr(1)});
      }
      Value xg = layer.byGate(xwt, G);
      Value hr = layer.contract(h, rGates, rbGates);
      Value hg = layer.byGate(hr, gruSplit ? 2 : G);
      SmallVector<Layer::In> common = {{xg}, {hg}, {h}};
      if (*lens)
        common.push_back({*lens, -2});
      // In the body: a[0..2] as `common`, then the cell's own inputs.
      auto keep = [&](OpBuilder &nb, Location l, ValueRange a, Value next, Value prev) {
        if (!*lens)
          return next;
        Value len = castScalar(nb, l, a[3], nb.getI64Type(), false, false);
        Value valid = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::slt,
                                            scalarConstant(nb, l, nb.getI64Type(), s), len);
        return arith::SelectOp::create(nb, l, valid, next, prev).getResult();
      };
      int64_t own = common.size();
      Value hNext, cNext, yt;
      if (C == Cell::RNN) {
        SmallVector<Layer::In> ins = common;
        ins[0].gate = 0;
        ins[1].gate = 0;
        auto res = layer.elementwise(ins, 2, [&](OpBuilder &nb, Location l, ValueRange a) {
          Value pre = arith::AddFOp::create(nb, l, a[0], a[1]);
          Value n = f[0].apply(nb, l, layer.clipped(nb, l, pre));
          Value zero = scalarConstant(nb, l, elem, 0);
          return SmallVector<Value>{keep(nb, l, a, n, a[2]), keep(nb, l, a, n, zero)};
        });
        hNext = res[0];
        yt = res[1];
      } else if (C == Cell::GRU) {
        // z and r first; then the candidate h and the new state.
        SmallVector<Layer::In> ins = {{xg, 0}, {hg, 0}, {xg, 1}, {hg, 1}};
        auto zr = layer.elementwise(ins, 2, [&](OpBuilder &nb, Location l, ValueRange a) {
          auto gate = [&](Value x, Value y) {
            return f[0].apply(nb, l, layer.clipped(nb, l, arith::AddFOp::create(nb, l, x, y)));
          };
          return SmallVector<Value>{gate(a[0], a[1]), gate(a[2], a[3])};
        });
        Value rec; // the h gate's recurrent term, r applied
        if (gruSplit) {
          Value rH = layer.elementwise({{zr[1]}, {h}}, 1, [](OpBuilder &nb, Location l, ValueRange a) {
            return SmallVector<Value>{arith::MulFOp::create(nb, l, a[0], a[1])};
          })[0];
          Value rh = tensor::ExtractSliceOp::create(
              b, loc, RankedTensorType::get({H, H}, elem), rd,
              ArrayRef<OpFoldResult>{b.getIndexAttr(2 * H), b.getIndexAttr(0)},
              ArrayRef<OpFoldResult>{hSize, hSize},
              ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)});
          rec = layer.contract(rH, rh, rb ? layer.range(rb, 2 * H, H) : Value());
        } else {
          rec = layer.elementwise({{zr[1]}, {hg, 2}}, 1, [](OpBuilder &nb, Location l, ValueRange a) {
            return SmallVector<Value>{arith::MulFOp::create(nb, l, a[0], a[1])};
          })[0];
        }
        SmallVector<Layer::In> ins2 = {{xg, 2}, {rec}, {h}};
        if (*lens)
          ins2.push_back({*lens, -2});
        ins2.push_back({zr[0]});
        auto res = layer.elementwise(ins2, 2, [&](OpBuilder &nb, Location l, ValueRange a) {
          Value z = a[own];
          Value cand = f[1].apply(nb, l, layer.clipped(nb, l, arith::AddFOp::create(nb, l, a[0], a[1])));
          Value one = scalarConstant(nb, l, elem, 1);
          Value n = arith::AddFOp::create(
              nb, l, arith::MulFOp::create(nb, l, arith::SubFOp::create(nb, l, one, z), cand),
              arith::MulFOp::create(nb, l, z, a[2]));
          Value zero = scalarConstant(nb, l, elem, 0);
          return SmallVector<Value>{keep(nb, l, a, n, a[2]), keep(nb, l, a, n, zero)};
        });
        hNext = res[0];
        yt = res[1];
      } else {
        // LSTM: gates i, o, f, c; peepholes i, o, f.
        SmallVector<Layer::In> ins = common;
        ins[0].gate = 0; // unused: the gates are read through gatesIn
        ins[1].gate = 0;
        ins.push_back({c});
        if (p) {
          ins.push_back({layer.range(p, 0, H)});
          ins.push_back({layer.range(p, H, H)});
          ins.push_back({layer.range(p, 2 * H, H)});
        }
        // The gate pre-activations, XW and HR at each gate.
        SmallVector<Layer::In> gatesIn;
        for (int64_t g = 0; g < 4; ++g) {
          gatesIn.push_back({xg, g});
          gatesIn.push_back({hg, g});
        }
        ins.append(gatesIn);
        int64_t gateAt = ins.size() - 8;
        auto res = layer.elementwise(ins, 3, [&](OpBuilder &nb, Location l, ValueRange a) {
          Value cPrev = a[own];
          auto pre = [&](int64_t g) {
            return arith::AddFOp::create(nb, l, a[gateAt + 2 * g], a[gateAt + 2 * g + 1]).getResult();
          };
          auto peephole = [&](Value v, int64_t k, Value state) -> Value {
            if (!p)
              return v;
            return arith::AddFOp::create(nb, l, v, arith::MulFOp::create(nb, l, a[own + 1 + k], state));
          };
          auto act = [&](const Activation &fn, Value v) { return fn.apply(nb, l, layer.clipped(nb, l, v)); };
          Value i = act(f[0], peephole(pre(0), 0, cPrev));
          Value fg = act(f[0], peephole(pre(2), 2, cPrev));
          Value cand = act(f[1], pre(3));
          Value cNew = arith::AddFOp::create(nb, l, arith::MulFOp::create(nb, l, fg, cPrev),
                                             arith::MulFOp::create(nb, l, i, cand));
          Value o = act(f[0], peephole(pre(1), 1, cNew));
          Value hNew = arith::MulFOp::create(nb, l, o, f[2].apply(nb, l, cNew));
          Value zero = scalarConstant(nb, l, elem, 0);
          return SmallVector<Value>{keep(nb, l, a, hNew, a[2]), keep(nb, l, a, cNew, cPrev),
                                    keep(nb, l, a, hNew, zero)};
        });
        hNext = res[0];
        cNext = res[1];
        yt = res[2];
      }
      h = hNext;
      if (cNext)
        c = cNext;
      if (perEntry)
        byStep = insert(byStep, yt, {b.getIndexAttr(s)});
      else
        y = insert(y, yt, {b.getIndexAttr(t), b.getIndexAttr(d)});
    }
    if (perEntry) {
      // Y[t, b] = byStep[len[b] - 1 - t, b] for t < len[b], else 0.
      Value init = emptyTensor(b, loc, {b.getIndexAttr(T), layer.batch, hSize}, elem);
      MLIRContext *mctx = b.getContext();
      AffineExpr d1 = getAffineDimExpr(1, mctx);
      Value yd = linalg::GenericOp::create(
                     b, loc, TypeRange{init.getType()}, ValueRange{*lens}, ValueRange{init},
                     SmallVector<AffineMap>{AffineMap::get(3, 0, {d1}, mctx),
                                            AffineMap::getMultiDimIdentityMap(3, mctx)},
                     SmallVector<utils::IteratorType>(3, utils::IteratorType::parallel),
                     [&](OpBuilder &nb, Location l, ValueRange a) {
                       Value t = linalg::IndexOp::create(nb, l, 0);
                       Value t64 = arith::IndexCastOp::create(nb, l, nb.getI64Type(), t);
                       Value len = castScalar(nb, l, a[0], nb.getI64Type(), false, false);
                       len = arith::MinSIOp::create(nb, l, len, scalarConstant(nb, l, nb.getI64Type(), T));
                       Value valid = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::slt, t64, len);
                       Value from = arith::SubIOp::create(
                           nb, l, arith::SubIOp::create(nb, l, len, scalarConstant(nb, l, nb.getI64Type(), 1)), t64);
                       from = arith::MaxSIOp::create(nb, l, from, scalarConstant(nb, l, nb.getI64Type(), 0));
                       Value at = arith::IndexCastOp::create(nb, l, nb.getIndexType(), from);
                       Value v = tensor::ExtractOp::create(
                           nb, l, byStep,
                           ValueRange{at, linalg::IndexOp::create(nb, l, 1), linalg::IndexOp::create(nb, l, 2)});
                       Value zero = scalarConstant(nb, l, elem, 0);
                       linalg::YieldOp::create(nb, l, arith::SelectOp::create(nb, l, valid, v, zero).getResult());
                     })
                     .getResult(0);
      SmallVector<OpFoldResult> at = {b.getIndexAttr(0), b.getIndexAttr(d), b.getIndexAttr(0),
                                      b.getIndexAttr(0)};
      SmallVector<OpFoldResult> sizes = {b.getIndexAttr(T), b.getIndexAttr(1), layer.batch, hSize};
      SmallVector<OpFoldResult> strides(4, b.getIndexAttr(1));
      y = tensor::InsertSliceOp::create(b, loc, yd, y, at, sizes, strides);
    }
    yh = insert(yh, h, {b.getIndexAttr(d)});
    yc = insert(yc, c, {b.getIndexAttr(d)});
  }
  if (layout == 1) { // Y [T, D, B, H] -> [B, T, D, H]; states -> [B, D, H]
    y = transposeTensor(b, loc, y, {2, 0, 1, 3});
    yh = transposeTensor(b, loc, yh, {1, 0, 2});
    yc = transposeTensor(b, loc, yc, {1, 0, 2});
  }
  ctx.setOutput(0, y);
  ctx.setOutput(1, yh);
  if (C == Cell::LSTM)
    ctx.setOutput(2, yc);
  return success();
}

} // namespace

void compress::appendRecurrentOps(llvm::SmallVectorImpl<OpTableEntry> &t) {
  constexpr int64_t kMax = 21;
  // Opsets 7 to 13 are these ops without layout (read as 0); 14 adds it.
  // Opset 1 (output_sequence, other defaults) is not taken.
  t.append({
      {"RNN", 7, kMax, importRecurrent<Cell::RNN>},
      {"GRU", 7, kMax, importRecurrent<Cell::GRU>},
      {"LSTM", 7, kMax, importRecurrent<Cell::LSTM>},
  });
}
