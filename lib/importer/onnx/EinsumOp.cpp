// Einsum: the equation is parsed at import and the whole op becomes one
// linalg.generic. Every distinct label is a loop dimension: the output's
// labels are the parallel ones (in output order), the others reductions.
// Each operand's indexing map lists its labels' dimensions, so a label
// repeated within one operand ("ii") reads its diagonal, and the body
// multiplies the operands and adds the product to the output.
//
// An ellipsis stands for the operand's dimensions not named by letters;
// ellipses broadcast together (right-aligned, numpy rules; a size-1
// dimension facing a larger one reads element 0). Without "->", the output
// is the ellipsis followed by the letters used once, in alphabetical order
// (numpy's implicit mode).
#include "lib/importer/onnx/Builders.h"

#include "mlir/Dialect/Utils/StaticValueUtils.h"

#include <map>

using namespace compress;
using namespace mlir;
using llvm::SmallVector;

namespace {

/// A parsed term: its labels; an ellipsis is kEllipsis, expanded later.
constexpr char kEllipsis = '.';
using Term = SmallVector<char>;

struct Equation {
  SmallVector<Term> inputs;
  std::optional<Term> output; // nullopt: implicit
};

/// Parses "ab,bc->ac" (spaces ignored); reports what it does not take.
FailureOr<Equation> parseEquation(NodeContext &ctx, StringRef text) {
  Equation eq;
  std::string s;
  for (char ch : text)
    if (ch != ' ')
      s.push_back(ch);
  StringRef rest(s);
  StringRef lhs = rest, rhs;
  bool explicitOutput = false;
  if (size_t arrow = rest.find("->"); arrow != StringRef::npos) {
    lhs = rest.take_front(arrow);
    rhs = rest.drop_front(arrow + 2);
    explicitOutput = true;
  }
  auto parseTerm = [&](StringRef t) -> FailureOr<Term> {
    Term term;
    for (size_t i = 0; i < t.size();) {
      if (t.drop_front(i).starts_with("...")) {
        if (llvm::is_contained(term, kEllipsis))
          return ctx.error() << "equation '" << text << "' has two ellipses in one term",
                 failure();
        term.push_back(kEllipsis);
        i += 3;
      } else if (llvm::isAlpha(t[i])) {
        term.push_back(t[i++]);
      } else {
        return ctx.error() << "unsupported character '" << t[i] << "' in equation '" << text
                           << "' (expected letters, '...', ',' and '->')",
               failure();
      }
    }
    return term;
  };
  SmallVector<StringRef> terms;
  lhs.split(terms, ',');
  for (StringRef t : terms) {
    auto term = parseTerm(t);
    if (failed(term))
      return failure();
    eq.inputs.push_back(*term);
  }
  if (explicitOutput) {
    auto term = parseTerm(rhs);
    if (failed(term))
      return failure();
    for (char c : *term)
      if (llvm::count(*term, c) > 1)
        return ctx.error() << "equation '" << text << "' repeats '" << c << "' in its output",
               failure();
    eq.output = *term;
  }
  return eq;
}

LogicalResult importEinsum(NodeContext &ctx) {
  std::string text = ctx.stringAttr("equation", "");
  auto eq = parseEquation(ctx, text);
  if (failed(eq))
    return failure();
  unsigned n = ctx.numInputs();
  if (n == 0)
    return ctx.error() << "expects at least one input";
  if (eq->inputs.size() != n)
    return ctx.error() << "equation '" << text << "' has " << eq->inputs.size()
                       << " input terms for " << n << " inputs";
  SmallVector<Value> operands;
  SmallVector<RankedTensorType> types;
  for (unsigned i = 0; i < n; ++i) {
    Value v = ctx.input(i);
    if (!v)
      return failure();
    operands.push_back(v);
    types.push_back(ctx.inputType(i));
  }
  Type elem = types[0].getElementType();
  if (!isa<FloatType>(elem) && !(isa<IntegerType>(elem) && !elem.isInteger(1)))
    return ctx.error() << "unsupported element type " << elem;
  for (RankedTensorType t : types)
    if (t.getElementType() != elem)
      return ctx.error() << "inputs of different element types " << elem << " and "
                         << t.getElementType();

  // Expand each ellipsis into labels past the letters: dimension k of an
  // ellipsis of e dimensions, out of the widest one's m, is label
  // kFirstBroadcast + m - e + k. Letters keep their own character.
  constexpr int kFirstBroadcast = 256;
  SmallVector<SmallVector<int>> labels(n);
  int64_t widest = 0;
  for (unsigned i = 0; i < n; ++i) {
    int64_t letters = llvm::count_if(eq->inputs[i], [](char c) { return c != kEllipsis; });
    bool hasEllipsis = llvm::is_contained(eq->inputs[i], kEllipsis);
    int64_t rank = types[i].getRank();
    if (hasEllipsis ? letters > rank : letters != rank)
      return ctx.error() << "term " << i << " of equation '" << text << "' names " << letters
                         << " dimensions of an input of rank " << rank;
    if (hasEllipsis)
      widest = std::max(widest, rank - letters);
  }
  for (unsigned i = 0; i < n; ++i) {
    int64_t e = types[i].getRank() + 1 - int64_t(eq->inputs[i].size());
    for (char c : eq->inputs[i]) {
      if (c != kEllipsis) {
        labels[i].push_back(c);
        continue;
      }
      for (int64_t k = 0; k < e; ++k)
        labels[i].push_back(kFirstBroadcast + widest - e + k);
    }
  }

  // The output's labels: given, or implicit.
  SmallVector<int> outLabels;
  if (eq->output) {
    for (char c : *eq->output) {
      if (c == kEllipsis) {
        for (int64_t k = 0; k < widest; ++k)
          outLabels.push_back(kFirstBroadcast + k);
        continue;
      }
      if (!llvm::any_of(labels, [&](auto &ls) { return llvm::is_contained(ls, int(c)); }))
        return ctx.error() << "output label '" << c << "' of equation '" << text
                           << "' is in no input term";
      outLabels.push_back(c);
    }
    if (widest > 0 && !llvm::is_contained(*eq->output, kEllipsis))
      return ctx.error() << "unsupported equation '" << text
                         << "': an ellipsis in the inputs but not in the output";
  } else {
    for (int64_t k = 0; k < widest; ++k)
      outLabels.push_back(kFirstBroadcast + k);
    std::map<char, int> uses;
    for (const Term &t : eq->inputs)
      for (char c : t)
        if (c != kEllipsis)
          ++uses[c];
    for (auto [c, count] : uses) // std::map: alphabetical, upper case first
      if (count == 1)
        outLabels.push_back(c);
  }

  // Loop dimensions: output labels, then the reduced ones by first use.
  SmallVector<int> loops = outLabels;
  for (auto &ls : labels)
    for (int l : ls)
      if (!llvm::is_contained(loops, l))
        loops.push_back(l);
  auto dimOf = [&](int label) { return int64_t(llvm::find(loops, label) - loops.begin()); };

  // Each loop's extent: a static size other than 1 if any operand has one
  // (two different ones are an error), else 1 if static, else the first
  // dynamic size.
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  MLIRContext *mctx = b.getContext();
  int64_t numLoops = loops.size();
  SmallVector<int64_t> staticSize(numLoops, ShapedType::kDynamic);
  SmallVector<std::pair<unsigned, int64_t>> dynamicAt(numLoops, {~0u, 0});
  for (unsigned i = 0; i < n; ++i)
    for (auto [k, l] : llvm::enumerate(labels[i])) {
      int64_t d = dimOf(l), size = types[i].getDimSize(k);
      if (ShapedType::isDynamic(size)) {
        if (dynamicAt[d].first == ~0u)
          dynamicAt[d] = {i, int64_t(k)};
        continue;
      }
      int64_t &known = staticSize[d];
      bool broadcasts = l >= kFirstBroadcast;
      if (ShapedType::isDynamic(known) || (broadcasts && known == 1))
        known = size;
      else if (size != known && !(broadcasts && size == 1))
        return ctx.error() << "equation '" << text << "' gives dimension '"
                           << (l >= kFirstBroadcast ? std::string("...")
                                                    : std::string(1, char(l)))
                           << "' the sizes " << known << " and " << size;
    }
  SmallVector<AffineMap> maps;
  for (unsigned i = 0; i < n; ++i) {
    SmallVector<AffineExpr> exprs;
    for (auto [k, l] : llvm::enumerate(labels[i])) {
      int64_t d = dimOf(l);
      bool stretched = types[i].getDimSize(k) == 1 && staticSize[d] != 1;
      exprs.push_back(stretched ? getAffineConstantExpr(0, mctx) : getAffineDimExpr(d, mctx));
    }
    maps.push_back(AffineMap::get(numLoops, 0, exprs, mctx));
  }
  SmallVector<AffineExpr> outExprs;
  for (int64_t d = 0; d < int64_t(outLabels.size()); ++d)
    outExprs.push_back(getAffineDimExpr(d, mctx));
  maps.push_back(AffineMap::get(numLoops, 0, outExprs, mctx));
  SmallVector<OpFoldResult> outSizes;
  for (int64_t d = 0; d < int64_t(outLabels.size()); ++d) {
    if (!ShapedType::isDynamic(staticSize[d]))
      outSizes.push_back(b.getIndexAttr(staticSize[d]));
    else
      outSizes.push_back(
          tensor::DimOp::create(b, loc, operands[dynamicAt[d].first], dynamicAt[d].second)
              .getResult());
  }
  SmallVector<utils::IteratorType> iterators;
  for (int64_t d = 0; d < numLoops; ++d)
    iterators.push_back(d < int64_t(outLabels.size()) ? utils::IteratorType::parallel
                                                      : utils::IteratorType::reduction);
  bool isUnsigned = ctx.isUnsigned(0);
  Value zero = arith::ConstantOp::create(b, loc, scalarAttr(b, elem, 0));
  Value init = linalg::FillOp::create(b, loc, zero, emptyTensor(b, loc, outSizes, elem))
                   .getResult(0);
  Value out = linalg::GenericOp::create(
                  b, loc, TypeRange{init.getType()}, operands, ValueRange{init}, maps,
                  iterators,
                  [&](OpBuilder &nb, Location l, ValueRange a) {
                    Value p = a[0];
                    for (Value v : a.drop_front().drop_back())
                      p = mulScalars(nb, l, p, v, isUnsigned);
                    linalg::YieldOp::create(nb, l, addScalars(nb, l, a.back(), p, isUnsigned));
                  })
                  .getResult(0);
  ctx.setOutput(0, out, isUnsigned);
  return success();
}

} // namespace

void compress::appendEinsumOps(llvm::SmallVectorImpl<OpTableEntry> &t) {
  t.append({{"Einsum", 12, 21, importEinsum}});
}
