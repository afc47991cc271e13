// Calibration in segments: each part of the model compiled once, run on
// stored frontier activations (see Calibrator.h).
#include "lib/calibration/Calibrator.h"

#include "lib/importer/onnx/Importer.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Transforms/RegionUtils.h"

#include <Eigen/Dense>

#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SetVector.h"

#include <cmath>

using namespace compress;
using namespace mlir;

llvm::Expected<std::unique_ptr<CpuEngine>> Calibrator::compile(ModuleOp module) {
  ++compiled;
  return CpuEngine::compile(module, engine);
}

namespace {

/// A value of @main that survives rewrites of other ops: result `index` of
/// the top-level op `op`, or argument `index` of @main when `op` is null.
struct ValueRef {
  Operation *op;
  unsigned index;
};

/// Running sums over the rows reaching one layer's input.
struct Accumulator {
  Eigen::MatrixXd gram; // lower triangle of X^T X
  std::vector<double> sum, sumSquares, maxAbs;
  int64_t rows = 0;

  llvm::Error add(const HostTensor &x, int64_t features) {
    if (x.kind != ElementKind::F32 || x.shape.empty())
      return llvm::createStringError("the layer's input is not a float32 tensor");
    if (x.shape.back() != features)
      return llvm::createStringError("the layer's input has shape " + x.shapeString() +
                                     ", not " + std::to_string(features) + " features");
    int64_t k = x.shape.back(), m = x.numElements() / std::max<int64_t>(k, 1);
    if (gram.size() == 0) {
      gram = Eigen::MatrixXd::Zero(k, k);
      sum.assign(k, 0);
      sumSquares.assign(k, 0);
      maxAbs.assign(k, 0);
    }
    using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    Eigen::Map<const RowMajor> rowsOf(reinterpret_cast<const float *>(x.data.data()), m, k);
    Eigen::MatrixXd values = rowsOf.cast<double>();
    gram.selfadjointView<Eigen::Lower>().rankUpdate(values.transpose());
    for (int64_t j = 0; j < k; ++j) {
      sum[j] += values.col(j).sum();
      sumSquares[j] += values.col(j).squaredNorm();
      maxAbs[j] = std::max(maxAbs[j], values.col(j).cwiseAbs().maxCoeff());
    }
    rows += m;
    return llvm::Error::success();
  }

  InputStatistics finish() const {
    InputStatistics s;
    int64_t k = gram.rows();
    s.rows = rows;
    s.features = k;
    s.hessian.resize(k * k);
    double factor = 2.0 / double(std::max<int64_t>(rows, 1));
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j <= i; ++j)
        s.hessian[i * k + j] = s.hessian[j * k + i] = factor * gram(i, j);
    for (int64_t j = 0; j < k; ++j) {
      s.l2Norm.push_back(std::sqrt(sumSquares[j]));
      s.mean.push_back(sum[j] / double(std::max<int64_t>(rows, 1)));
    }
    s.maxAbs = maxAbs;
    return s;
  }
};

/// Values a top-level op reads from outside itself: its operands and what
/// its regions capture.
SmallVector<Value> readsOf(Operation *op) {
  llvm::SetVector<Value> reads(op->operand_begin(), op->operand_end());
  for (Region &region : op->getRegions())
    getUsedValuesDefinedAbove(region, reads);
  return reads.takeVector();
}

/// Whether a value can be stored between segments: a tensor of a type the
/// engine passes (shape tensors of `index` are recomputed instead, as
/// scalars are).
bool isStorable(Value v) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  return type && !type.getElementType().isIndex();
}

/// Ops computed from constants alone (constants, tensor.empty, fills and
/// reshapes of constants) are cloned into every segment that reads them, the
/// large constants travelling as the segment's weights buffer: never
/// stored. Memoised per ask, since the module changes between asks.
class Rematerializable {
public:
  bool operator()(Operation *op) {
    auto [it, inserted] = known.try_emplace(op, false);
    if (!inserted)
      return it->second;
    bool result = llvm::all_of(readsOf(op), [&](Value v) {
      return v.getDefiningOp() && (*this)(v.getDefiningOp());
    });
    return known[op] = result;
  }

private:
  llvm::DenseMap<Operation *, bool> known;
};

/// The layers at the top level of @main, in order.
SmallVector<Operation *> topLevelLayers(ModuleOp module) {
  SmallVector<Operation *> layers;
  if (auto main = module.lookupSymbol<func::FuncOp>("main"); main && !main.isExternal())
    for (Operation &op : main.getBody().front())
      if (isa<CompressibleLayer>(op))
        layers.push_back(&op);
  return layers;
}

class SegmentedSession : public CalibrationSession {
public:
  /// Runs `module`; `rewritten` is the module the pass rewrites, when it
  /// is another import of the model (for other shapes).
  SegmentedSession(Calibrator &calibrator, ModuleOp module, ModuleOp rewritten = {})
      : calibrator(calibrator), module(module), rewritten(rewritten),
        mirroredFrom(calibrator.mirroredLayers()), frontierData(calibrator.inputSets().size()) {}

  size_t numSets() const override { return calibrator.inputSets().size(); }
  llvm::Expected<const InputStatistics &> inputStatistics(CompressibleLayer layer) override;
  llvm::Error visitValues(ArrayRef<Value> values, ValueVisitor visit) override;

private:
  using SetVisitor = llvm::function_ref<llvm::Error(size_t, std::vector<HostTensor> &)>;
  /// Compiles the ops computing `results` from @main's arguments and the
  /// stored frontier (or from the arguments alone with `fromInputs`), runs
  /// them on every set and hands `visit` each set's results.
  llvm::Error runSegment(func::FuncOp main, ArrayRef<Value> results, bool fromInputs,
                         SetVisitor visit, llvm::DenseSet<Operation *> *sliceOut);
  /// Drops what refers to ops no longer in @main; false when the frontier
  /// itself lost a value (it must be measured again from the inputs).
  bool forgetErased(func::FuncOp main);
  void resetFrontier() {
    frontier.clear();
    computed.clear();
    for (auto &set : frontierData)
      set.clear();
  }
  Value resolve(func::FuncOp main, ValueRef ref) const {
    return ref.op ? Value(ref.op->getResult(ref.index)) : Value(main.getArgument(ref.index));
  }

  /// Copies onto `module` each layer of `rewritten` the pass changed since
  /// the last call.
  llvm::Error mirrorRewrittenLayers();

  Calibrator &calibrator;
  ModuleOp module;
  ModuleOp rewritten;
  /// The layers of `rewritten` as last mirrored, by position (kept by the
  /// calibrator, across sessions).
  SmallVector<Operation *> &mirroredFrom;
  /// The stored activations: values of @main and their contents per set.
  std::vector<ValueRef> frontier;
  std::vector<std::vector<HostTensor>> frontierData;
  /// Top-level ops the frontier already reflects.
  llvm::DenseSet<Operation *> computed;
  llvm::DenseMap<Operation *, InputStatistics> statistics;
};

bool SegmentedSession::forgetErased(func::FuncOp main) {
  llvm::DenseSet<Operation *> live;
  for (Operation &op : main.getBody().front())
    live.insert(&op);
  for (Operation *op : llvm::to_vector(computed))
    if (!live.contains(op))
      computed.erase(op);
  for (Operation *op : llvm::to_vector(llvm::make_first_range(statistics)))
    if (!live.contains(op))
      statistics.erase(op);
  return llvm::all_of(frontier, [&](ValueRef ref) { return !ref.op || live.contains(ref.op); });
}

llvm::Error SegmentedSession::runSegment(func::FuncOp main, ArrayRef<Value> results,
                                         bool fromInputs, SetVisitor visit,
                                         llvm::DenseSet<Operation *> *sliceOut) {
  Block &body = main.getBody().front();
  llvm::DenseMap<Value, unsigned> stored; // frontier value -> its index
  if (!fromInputs)
    for (auto [i, ref] : llvm::enumerate(frontier))
      stored[resolve(main, ref)] = i;

  // The ops to run: everything `results` needs that is neither an input nor
  // stored. Reaching an op the frontier reflects but did not keep means the
  // frontier cannot serve: start from the inputs.
  llvm::DenseSet<Operation *> slice;
  Rematerializable rematerializable;
  SmallVector<Value> worklist(results);
  while (!worklist.empty()) {
    Value v = worklist.pop_back_val();
    if (isa<BlockArgument>(v) || stored.contains(v))
      continue;
    Operation *op = v.getDefiningOp();
    if (!slice.insert(op).second)
      continue;
    if (!fromInputs && computed.contains(op) && !rematerializable(op) && isStorable(v))
      return runSegment(main, results, /*fromInputs=*/true, visit, sliceOut);
    llvm::append_range(worklist, readsOf(op));
  }

  // The segment: @main(frontier..., model inputs...) -> results.
  OpBuilder b(module.getContext());
  OwningOpRef<ModuleOp> segment = ModuleOp::create(module.getLoc());
  b.setInsertionPointToEnd(segment->getBody());
  for (Operation &op : module.getBody()->getOperations())
    if (&op != main.getOperation())
      b.clone(op);
  SmallVector<Type> argTypes;
  SmallVector<DictionaryAttr> argAttrs;
  std::vector<unsigned> frontierUsed; // stored values the segment reads
  SmallVector<Value> storedValues(frontier.size());
  for (auto [value, index] : stored)
    storedValues[index] = value;
  llvm::DenseSet<Value> read;
  for (Operation *op : slice)
    for (Value v : readsOf(op))
      read.insert(v);
  for (Value v : results)
    read.insert(v);
  for (auto [index, value] : llvm::enumerate(storedValues))
    if (read.contains(value)) {
      frontierUsed.push_back(index);
      argTypes.push_back(value.getType());
      argAttrs.push_back(b.getDictionaryAttr(b.getNamedAttr(
          kNameAttr, b.getStringAttr("__frontier" + std::to_string(index)))));
    }
  for (unsigned i = 0; i < main.getNumArguments(); ++i) {
    argTypes.push_back(main.getArgument(i).getType());
    argAttrs.push_back(main.getArgAttrDict(i) ? main.getArgAttrDict(i) : b.getDictionaryAttr({}));
  }
  SmallVector<Type> resultTypes(ValueRange(results).getTypes());
  auto function = func::FuncOp::create(b, main.getLoc(), "main",
                                       b.getFunctionType(argTypes, resultTypes));
  function.setAllArgAttrs(argAttrs);
  SmallVector<DictionaryAttr> resultAttrs;
  for (size_t i = 0; i < results.size(); ++i)
    resultAttrs.push_back(b.getDictionaryAttr(
        b.getNamedAttr(kNameAttr, b.getStringAttr("__value" + std::to_string(i)))));
  function.setAllResultAttrs(resultAttrs);
  Block *entry = function.addEntryBlock();
  IRMapping mapping;
  for (auto [position, index] : llvm::enumerate(frontierUsed))
    mapping.map(storedValues[index], entry->getArgument(position));
  for (unsigned i = 0; i < main.getNumArguments(); ++i)
    mapping.map(main.getArgument(i), entry->getArgument(frontierUsed.size() + i));
  b.setInsertionPointToStart(entry);
  for (Operation &op : body)
    if (slice.contains(&op))
      b.clone(op, mapping);
  SmallVector<Value> returned;
  for (Value v : results)
    returned.push_back(mapping.lookupOrDefault(v));
  func::ReturnOp::create(b, main.getLoc(), returned);

  auto engine = calibrator.compile(*segment);
  if (!engine)
    return engine.takeError();
  const std::vector<InputSet> &sets = calibrator.inputSets();
  for (size_t s = 0; s < sets.size(); ++s) {
    std::vector<HostTensor> inputs;
    for (unsigned index : frontierUsed)
      inputs.push_back(frontierData[s][index]);
    llvm::append_range(inputs, sets[s].inputs);
    auto outputs = (*engine)->run(inputs);
    if (!outputs)
      return setError(sets[s].name, llvm::toString(outputs.takeError()));
    if (llvm::Error e = visit(s, *outputs))
      return setError(sets[s].name, llvm::toString(std::move(e)));
  }
  if (sliceOut)
    *sliceOut = std::move(slice);
  return llvm::Error::success();
}

llvm::Error SegmentedSession::mirrorRewrittenLayers() {
  SmallVector<Operation *> now = topLevelLayers(rewritten), ours = topLevelLayers(module);
  if (now.size() != mirroredFrom.size() || ours.size() != now.size())
    return llvm::createStringError("the model imported for the calibration sets' shapes has " +
                                   llvm::Twine(ours.size()) + " layers, the compiled one " +
                                   llvm::Twine(now.size()));
  for (size_t i = 0; i < now.size(); ++i) {
    if (now[i] == mirroredFrom[i])
      continue;
    auto source = cast<CompressibleLayer>(now[i]);
    auto target = cast<CompressibleLayer>(ours[i]);
    OpBuilder b(target);
    IRMapping mapping;
    mapping.map(source.getLayerInput(), target.getLayerInput());
    for (Value operand : source->getOperands()) {
      if (operand == source.getLayerInput())
        continue;
      Operation *producer = operand.getDefiningOp();
      if (!producer || !producer->hasTrait<OpTrait::ConstantLike>())
        return llvm::createStringError(
            "layer '" + source.getLayerName("layer" + std::to_string(i)) +
            "' reads a value computed at run time besides its input: calibrate with sets of "
            "the shapes the model is compiled for");
      mapping.map(operand, b.clone(*producer)->getResult(0));
    }
    Operation *copy = b.clone(*now[i], mapping);
    for (auto [result, original] : llvm::zip(copy->getResults(), target->getResults()))
      result.setType(original.getType());
    target->replaceAllUsesWith(copy);
    target->erase();
    mirroredFrom[i] = now[i];
  }
  return llvm::Error::success();
}

llvm::Expected<const InputStatistics &>
SegmentedSession::inputStatistics(CompressibleLayer asked) {
  CompressibleLayer layer = asked;
  if (rewritten) {
    if (llvm::Error e = mirrorRewrittenLayers())
      return std::move(e);
    size_t index = llvm::find(mirroredFrom, asked.getOperation()) - mirroredFrom.begin();
    if (index == mirroredFrom.size())
      return llvm::createStringError("the layer is not at the top level of @main");
    layer = cast<CompressibleLayer>(topLevelLayers(module)[index]);
  }
  auto main = module.lookupSymbol<func::FuncOp>("main");
  if (!main || main.isExternal())
    return llvm::createStringError("the model has no func.func @main");
  Block &body = main.getBody().front();
  if (layer->getBlock() != &body)
    return llvm::createStringError("the layer is not at the top level of @main");
  if (!forgetErased(main) || computed.contains(layer))
    resetFrontier();
  if (auto it = statistics.find(layer); it != statistics.end())
    return it->second;

  // Pending: this layer and every layer after it, which the pass may still
  // change; tainted: every op they feed.
  SmallVector<CompressibleLayer> layers;
  for (Operation &op : body)
    if (auto l = dyn_cast<CompressibleLayer>(op))
      layers.push_back(l);
  auto first = llvm::find(layers, layer);
  llvm::DenseSet<Operation *> tainted;
  for (CompressibleLayer l : llvm::make_range(first, layers.end()))
    tainted.insert(l);
  for (Operation &op : body)
    if (!tainted.contains(&op) && llvm::any_of(readsOf(&op), [&](Value v) {
          return v.getDefiningOp() && tainted.contains(v.getDefiningOp());
        }))
      tainted.insert(&op);
  auto measurable = [](CompressibleLayer l) {
    auto type = dyn_cast<RankedTensorType>(l.getLayerInput().getType());
    return type && type.getElementType().isF32() && type.getRank() >= 1 &&
           (type.isDynamicDim(type.getRank() - 1) ||
            type.getShape().back() == l.getLayerInFeatures());
  };
  if (!measurable(layer))
    return llvm::createStringError("statistics of " + layer.getLayerKind() +
                                   " inputs are not measured");
  // Ready: pending layers whose input no pending layer feeds. They are
  // measured together.
  SmallVector<CompressibleLayer> ready;
  for (CompressibleLayer l : llvm::make_range(first, layers.end())) {
    Operation *producer = l.getLayerInput().getDefiningOp();
    if ((!producer || !tainted.contains(producer)) && measurable(l) && !statistics.contains(l))
      ready.push_back(l);
  }
  if (ready.empty() || ready.front() != layer)
    return llvm::createStringError("the layer's input depends on a layer not yet compressed");

  // The new frontier: tensors outside the tainted part that it reads
  // (scalars and index tensors are followed back to the tensors they come
  // from).
  llvm::SetVector<Value> next;
  Rematerializable rematerializable;
  std::function<void(Value)> need = [&](Value v) {
    Operation *op = v.getDefiningOp();
    if (op && (tainted.contains(op) || rematerializable(op)))
      return;
    if (!op || isStorable(v)) {
      next.insert(v);
      return;
    }
    for (Value read : readsOf(op))
      need(read);
  };
  for (Operation &op : body)
    if (tainted.contains(&op))
      for (Value v : readsOf(&op))
        need(v);
  // @main's arguments need not be stored: every segment takes them.
  SmallVector<Value> results;
  for (Value v : next)
    if (!isa<BlockArgument>(v))
      results.push_back(v);

  // Each ready layer's input: a model input, or one of the results.
  struct Tap {
    bool modelInput;
    unsigned index;
  };
  SmallVector<Tap> taps;
  for (CompressibleLayer l : ready) {
    Value input = l.getLayerInput();
    if (auto arg = dyn_cast<BlockArgument>(input))
      taps.push_back({true, arg.getArgNumber()});
    else
      taps.push_back({false, unsigned(llvm::find(results, input) - results.begin())});
  }
  // Results the old frontier holds are carried over, not recomputed: what
  // the rest of the model reads from finished blocks (a decoder's `present`
  // key/value outputs) would otherwise go through every later segment.
  llvm::DenseMap<Value, unsigned> stored;
  for (auto [i, ref] : llvm::enumerate(frontier))
    stored[resolve(main, ref)] = i;
  SmallVector<Value> toCompute;
  SmallVector<int64_t> source; // >= 0: output of the segment; < 0: -1 - stored index
  for (Value v : results) {
    auto it = stored.find(v);
    source.push_back(it != stored.end() ? -1 - int64_t(it->second) : int64_t(toCompute.size()));
    if (it == stored.end())
      toCompute.push_back(v);
  }
  std::vector<Accumulator> sums(ready.size());
  std::vector<std::vector<HostTensor>> nextData(numSets());
  const std::vector<InputSet> &sets = calibrator.inputSets();
  auto takeSet = [&](size_t set, std::vector<HostTensor> &outputs) -> llvm::Error {
    std::vector<HostTensor> kept(results.size());
    for (size_t r = 0; r < results.size(); ++r)
      kept[r] = source[r] >= 0 ? std::move(outputs[source[r]])
                               : std::move(frontierData[set][-1 - source[r]]);
    for (size_t t = 0; t < taps.size(); ++t)
      if (llvm::Error e = sums[t].add(taps[t].modelInput ? sets[set].inputs[taps[t].index]
                                                         : kept[taps[t].index],
                                      ready[t].getLayerInFeatures()))
        return e;
    nextData[set] = std::move(kept);
    return llvm::Error::success();
  };
  llvm::DenseSet<Operation *> slice;
  llvm::Error error = llvm::Error::success();
  if (toCompute.empty()) {
    std::vector<HostTensor> none;
    for (size_t set = 0; set < sets.size() && !error; ++set)
      if (llvm::Error e = takeSet(set, none))
        error = setError(sets[set].name, llvm::toString(std::move(e)));
  } else {
    error = runSegment(main, toCompute, /*fromInputs=*/frontier.empty(), takeSet, &slice);
  }
  if (error) {
    resetFrontier(); // partly moved out
    return std::move(error);
  }
  for (size_t t = 0; t < ready.size(); ++t)
    statistics[ready[t]] = sums[t].finish();
  frontier.clear();
  for (Value v : results)
    frontier.push_back(isa<BlockArgument>(v)
                           ? ValueRef{nullptr, cast<BlockArgument>(v).getArgNumber()}
                           : ValueRef{v.getDefiningOp(), cast<OpResult>(v).getResultNumber()});
  frontierData = std::move(nextData);
  for (Operation *op : slice)
    if (!rematerializable(op))
      computed.insert(op);
  return statistics.find(layer)->second;
}

llvm::Error SegmentedSession::visitValues(ArrayRef<Value> values, ValueVisitor visit) {
  if (rewritten)
    return llvm::createStringError("values other than layers' inputs are measured only on "
                                   "calibration sets of the shapes the model is compiled for");
  auto main = module.lookupSymbol<func::FuncOp>("main");
  if (!main || main.isExternal())
    return llvm::createStringError("the model has no func.func @main");
  for (Value v : values) {
    Operation *owner = isa<BlockArgument>(v) ? cast<BlockArgument>(v).getOwner()->getParentOp()
                                             : v.getDefiningOp()->getParentOp();
    if (owner != main.getOperation())
      return llvm::createStringError("values to visit must be at the top level of @main");
  }
  return runSegment(main, values, /*fromInputs=*/true,
                    [&](size_t set, std::vector<HostTensor> &tensors) {
                      return visit(set, tensors);
                    },
                    nullptr);
}

/// A session on calibration data that could not be read.
class FailedSession : public CalibrationSession {
public:
  explicit FailedSession(std::string message) : message(std::move(message)) {}
  size_t numSets() const override { return 0; }
  llvm::Expected<const InputStatistics &> inputStatistics(CompressibleLayer) override {
    return llvm::createStringError(message);
  }
  llvm::Error visitValues(ArrayRef<Value>, ValueVisitor) override {
    return llvm::createStringError(message);
  }

private:
  std::string message;
};

} // namespace

Calibrator::Calibrator(std::vector<InputSet> sets, EngineOptions engine,
                       OwningOpRef<ModuleOp> shapedForSets, ModuleOp compiled)
    : sets(std::move(sets)), engine(engine), shapedForSets(std::move(shapedForSets)),
      mirrored(topLevelLayers(compiled)) {}

std::unique_ptr<Calibrator> Calibrator::fromFolder(std::string folder, EngineOptions engine) {
  auto calibrator = std::make_unique<Calibrator>(std::vector<InputSet>(), engine);
  calibrator->folder = std::move(folder);
  return calibrator;
}

std::unique_ptr<CalibrationSession> Calibrator::open(ModuleOp module) {
  if (!folder.empty()) {
    auto signature = readEntrySignature(module);
    auto read = signature ? readCalibrationSets(folder, signature->inputs)
                          : llvm::Expected<std::vector<InputSet>>(signature.takeError());
    if (!read)
      return std::make_unique<FailedSession>(llvm::toString(read.takeError()));
    sets = std::move(*read);
    folder.clear();
  }
  if (shapedForSets)
    return std::make_unique<SegmentedSession>(*this, *shapedForSets, module);
  return std::make_unique<SegmentedSession>(*this, module);
}
