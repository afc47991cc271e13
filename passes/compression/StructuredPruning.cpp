// Structured pruning's entry point: finds, measures, ranks, rewrites and reports structures.
//
// A structure is found from its consumer (down_proj, o_proj, the next
// convolution) and then planned by propagating a *channel dimension* through
// the ops (ChannelPropagation.cpp): every value the channels reach has one
// dimension holding `units` equal contiguous blocks (a channel each for MLPs
// and convolutions, a group of query heads, or a key/value head, for
// attention). Each op's rule says where the dimension lies in its other
// operands and results, or why it cannot be rewritten. Nothing is rewritten
// until every structure of the module is planned and measured; then each
// value's type loses the removed blocks, constants indexed by the channels
// are sliced, and the producers' rows and the consumer's columns are dropped
// (ChannelRewrite.cpp).
#include "passes/compression/StructuredPruning.h"

#include "passes/compression/ChannelPropagation.h"

#include "dialects/compress/IR/CompressOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include "llvm/ADT/SetVector.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <numeric>

using namespace mlir;
using llvm::SmallVector;

namespace compress {
using namespace structured;
namespace {

StringRef kindName(Kind kind) {
  switch (kind) {
  case Kind::Mlp:
    return "mlp";
  case Kind::Heads:
    return "heads";
  case Kind::Conv:
    return "conv";
  }
  llvm_unreachable("kind");
}

// ---------------------------------------------------------------------------
// Finding structures: which consumer layers to plan from.

/// True when `v` is computed from constants alone (a batch norm's vectors
/// reshaped for broadcasting, say).
bool computedFromConstants(Value v, int depth = 0) {
  Operation *def = v.getDefiningOp();
  if (!def || depth > 8 || isa<CompressibleLayer>(def))
    return false;
  if (isa<arith::ConstantOp>(def))
    return true;
  return llvm::all_of(def->getOperands(),
                      [&](Value operand) { return computedFromConstants(operand, depth + 1); });
}

/// What lies behind a layer's input, followed back through all-parallel
/// linalg ops (along the operands that hold the channels) and through
/// reshapes and transposes.
struct Producers {
  /// Every path ended at a layer of the kind asked for, or at constants.
  bool complete = true;
  /// The layers found, and whether they all read one input.
  SmallVector<Operation *> layers;
  bool oneInput = true;
  /// The first elementwise op merging two non-constant operands that hold
  /// the channels (a residual add, or SwiGLU's product), and the first
  /// reshape or transpose met.
  Operation *merge = nullptr, *reshape = nullptr;

  /// An MLP's gate and up projections, a convolution: layers reading one
  /// input, nothing else behind the consumer.
  bool structure() const { return complete && !layers.empty() && oneInput; }
};

template <typename LayerOp> Producers producersOf(Value v, int64_t dim) {
  Producers out;
  SmallVector<std::pair<Value, int64_t>> stack{{v, dim}};
  llvm::DenseSet<Value> seen;
  Value layerInput;
  while (!stack.empty() && seen.size() < 4096) {
    auto [value, d] = stack.pop_back_val();
    if (!seen.insert(value).second)
      continue;
    Operation *def = value.getDefiningOp();
    if (!def) {
      out.complete = false;
      continue;
    }
    if (auto layer = dyn_cast<LayerOp>(def)) {
      if (layerInput && layerInput != layer.getInput())
        out.oneInput = false;
      layerInput = layer.getInput();
      out.layers.push_back(def);
      continue;
    }
    if (computedFromConstants(value))
      continue;
    if (auto cast = dyn_cast<tensor::CastOp>(def)) {
      stack.push_back({cast.getSource(), d});
      continue;
    }
    if (auto transpose = dyn_cast<linalg::TransposeOp>(def)) {
      out.reshape = out.reshape ? out.reshape : def;
      stack.push_back({transpose.getInput(), transpose.getPermutation()[d]});
      continue;
    }
    if (isa<tensor::ReshapeOp, tensor::CollapseShapeOp, tensor::ExpandShapeOp>(def)) {
      // The engine maps the channels exactly; here the source's last
      // dimension stands for them.
      out.reshape = out.reshape ? out.reshape : def;
      Value source = def->getOperand(0);
      stack.push_back({source, cast<RankedTensorType>(source.getType()).getRank() - 1});
      continue;
    }
    auto generic = dyn_cast<linalg::GenericOp>(def);
    if (!generic || !generic.hasPureTensorSemantics() || generic.getNumReductionLoops() != 0) {
      out.complete = false;
      continue;
    }
    auto resultDim = dyn_cast<AffineDimExpr>(generic
                                                 .getMatchingIndexingMap(generic.getDpsInitOperand(
                                                     cast<OpResult>(value).getResultNumber()))
                                                 .getResult(d));
    if (!resultDim) {
      out.complete = false;
      continue;
    }
    int carriers = 0;
    for (OpOperand *input : generic.getDpsInputOperands()) {
      AffineMap m = generic.getMatchingIndexingMap(input);
      for (auto [position, expr] : llvm::enumerate(m.getResults()))
        if (auto e = dyn_cast<AffineDimExpr>(expr); e && e == resultDim) {
          stack.push_back({input->get(), int64_t(position)});
          carriers += !computedFromConstants(input->get());
        }
    }
    if (carriers > 1 && !out.merge)
      out.merge = def;
  }
  if (!stack.empty())
    out.complete = false;
  return out;
}

/// True when a linear layer's input comes, through reshapes and transposes,
/// from a contraction (attention's probabilities times values): o_proj.
bool readsAttention(LinearOp linear) {
  Value v = linear.getInput();
  for (int steps = 0; steps < 16; ++steps) {
    Operation *def = v.getDefiningOp();
    if (!def)
      return false;
    if (auto reshape = dyn_cast<tensor::ReshapeOp>(def)) {
      v = reshape.getSource();
    } else if (auto transpose = dyn_cast<linalg::TransposeOp>(def)) {
      v = transpose.getInput();
    } else if (isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp, tensor::CastOp>(def)) {
      v = def->getOperand(0);
    } else if (auto linalgOp = dyn_cast<linalg::LinalgOp>(def)) {
      return linalgOp.getNumReductionLoops() > 0 && linalgOp.getNumDpsInputs() == 2;
    } else {
      return false;
    }
  }
  return false;
}

/// Minitron's ranking: the units with the smallest importance are removed
/// (ties: the lower index first).
void rank(Plan &plan, double sparsity) {
  int64_t units = plan.units;
  int64_t remove = std::llround(sparsity * double(units));
  remove = std::clamp<int64_t>(remove, 0, units - 1);
  std::vector<int64_t> order(units);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return plan.importance[a] < plan.importance[b]; });
  plan.removed.assign(order.begin(), order.begin() + remove);
  llvm::sort(plan.removed);
  plan.kept.clear();
  for (int64_t u = 0; u < units; ++u)
    if (!llvm::is_contained(plan.removed, u))
      plan.kept.push_back(u);
}

} // namespace

llvm::Error pruneStructured(ModuleOp module, Calibration &calibration,
                            const StructuredPruneOptions &options, llvm::json::Array &layers) {
  auto wanted = [&](Kind kind) {
    return options.targets.empty() || llvm::is_contained(options.targets, kindName(kind).str());
  };
  auto main = module.lookupSymbol<func::FuncOp>("main");
  if (!main || main.isExternal())
    return llvm::createStringError("structured pruning needs a func.func @main");

  // Plan every structure, in the order of their consumers.
  std::vector<Plan> plans;
  for (Operation &op : main.getBody().getOps()) {
    std::optional<Kind> kind;
    OpOperand *input = nullptr;
    int64_t dim = 0, units = 0;
    if (auto linear = dyn_cast<LinearOp>(&op)) {
      auto inputType = linear.getInput().getType();
      dim = inputType.getRank() - 1;
      input = &linear->getOpOperand(0);
      units = linear.getWeight().getType().getDimSize(1);
      if (wanted(Kind::Heads) && readsAttention(linear)) {
        kind = Kind::Heads;
      } else if (wanted(Kind::Mlp) && producersOf<LinearOp>(linear.getInput(), dim).structure()) {
        kind = Kind::Mlp;
      } else if (wanted(Kind::Conv)) {
        // A convolution's channels flattened into a linear layer.
        Producers convs = producersOf<Conv2DOp>(linear.getInput(), dim);
        if (convs.structure() && convs.reshape)
          return llvm::createStringError(
              "conv structure of '" + layerName(convs.layers.front()) +
              "': cannot propagate the pruned channels through " + describe(convs.reshape) +
              ": it flattens them into the linear layer '" + layerName(linear) + "'");
      }
    } else if (auto conv = dyn_cast<Conv2DOp>(&op)) {
      dim = 1;
      input = &conv->getOpOperand(0);
      units = conv.getWeight().getType().getDimSize(1) * conv.getGroups();
      Producers convs =
          wanted(Kind::Conv) ? producersOf<Conv2DOp>(conv.getInput(), dim) : Producers{false};
      if (convs.structure())
        kind = Kind::Conv;
      else if (!convs.layers.empty() && convs.merge)
        return llvm::createStringError(
            "conv structure of '" + layerName(convs.layers.front()) +
            "': cannot propagate the pruned channels through " + describe(convs.merge) +
            ": a residual add joins them to channels of another source before '" + layerName(&op) +
            "'");
      if (kind && conv.getGroups() != 1)
        return llvm::createStringError(
            "conv structure of '" + layerName(&op) +
            "': the consumer is a grouped (depthwise) convolution; its input channels cannot "
            "be removed");
    }
    if (!kind)
      continue;
    if (ShapedType::isDynamic(units) || units < 2)
      return llvm::createStringError(kindName(*kind) + " structure of '" + layerName(&op) +
                                     "': the consumer's weight has no static channel dimension");
    // Heads: units start at one per feature and become the coarsest groups
    // the reshapes allow (key/value heads with the query heads reading them).
    while (true) {
      Plan plan;
      plan.kind = *kind;
      plan.sink = &op;
      plan.units = units;
      std::optional<Failure> failure = propagate(plan, *input, dim);
      if (!failure) {
        plans.push_back(std::move(plan));
        break;
      }
      if (*kind == Kind::Heads && failure->refine && *failure->refine < units) {
        units = *failure->refine;
        continue;
      }
      return llvm::createStringError(kindName(*kind) + " structure of '" + layerName(&op) +
                                     "': " + failure->message);
    }
  }

  // Structures must not share values.
  llvm::DenseMap<Value, size_t> owner;
  for (auto [index, plan] : llvm::enumerate(plans))
    for (auto [value, dim] : plan.dims) {
      auto [it, inserted] = owner.insert({value, index});
      if (!inserted)
        return llvm::createStringError(kindName(plan.kind) + " structure of '" +
                                       layerName(plan.sink) + "': it shares values with the " +
                                       kindName(plans[it->second].kind) + " structure of '" +
                                       layerName(plans[it->second].sink) + "'");
    }

  // Importance, measured on the unpruned model.
  SmallVector<Value> convInputs;
  SmallVector<size_t> convPlans;
  for (auto [index, plan] : llvm::enumerate(plans)) {
    if (plan.kind == Kind::Conv) {
      convInputs.push_back(plan.sink->getOperand(0));
      convPlans.push_back(index);
      continue;
    }
    auto statistics = calibration->inputStatistics(cast<CompressibleLayer>(plan.sink));
    if (!statistics)
      return llvm::createStringError("calibration of layer '" + layerName(plan.sink) +
                                     "' failed: " + llvm::toString(statistics.takeError()));
    const std::vector<double> &norms = statistics->l2Norm;
    int64_t block = int64_t(norms.size()) / plan.units;
    plan.importance.assign(plan.units, 0);
    for (int64_t u = 0; u < plan.units; ++u) {
      double sum = 0;
      for (int64_t j = 0; j < block; ++j)
        sum += norms[u * block + j] * norms[u * block + j];
      plan.importance[u] = std::sqrt(sum);
    }
  }
  if (!convInputs.empty()) {
    std::vector<std::vector<double>> sums(convPlans.size());
    for (auto [i, index] : llvm::enumerate(convPlans))
      sums[i].assign(plans[index].units, 0);
    llvm::Error error = calibration->visitValues(
        convInputs, [&](size_t, ArrayRef<HostTensor> values) -> llvm::Error {
          for (auto [i, tensor] : llvm::enumerate(values)) {
            if (tensor.kind != ElementKind::F32 || tensor.shape.size() != 4)
              return llvm::createStringError("a convolution's input is not float32 NCHW");
            const float *data = reinterpret_cast<const float *>(tensor.data.data());
            int64_t n = tensor.shape[0], c = tensor.shape[1];
            int64_t hw = tensor.shape[2] * tensor.shape[3];
            if (c != int64_t(sums[i].size()))
              return llvm::createStringError("a convolution's input has an unexpected shape");
            for (int64_t b = 0; b < n; ++b)
              for (int64_t ch = 0; ch < c; ++ch) {
                const float *p = data + (b * c + ch) * hw;
                double s = 0;
                for (int64_t k = 0; k < hw; ++k)
                  s += double(p[k]) * double(p[k]);
                sums[i][ch] += s;
              }
          }
          return llvm::Error::success();
        });
    if (error)
      return llvm::createStringError("calibration of the convolutions' inputs failed: " +
                                     llvm::toString(std::move(error)));
    for (auto [i, index] : llvm::enumerate(convPlans)) {
      plans[index].importance = sums[i];
      for (double &v : plans[index].importance)
        v = std::sqrt(v);
    }
  }

  // Rewrite.
  llvm::SetVector<Operation *> maybeDead;
  for (auto [index, plan] : llvm::enumerate(plans)) {
    rank(plan, options.sparsity);
    int64_t before = parameters(plan);
    std::string name = layerName(plan.sink);
    // Each layer's weight bytes before and after, so that a run's summary
    // counts the layers this pass and later ones change once.
    auto weightBytes = [&plan] {
      std::vector<std::pair<std::string, int64_t>> bytes;
      auto add = [&](Operation *op) {
        if (auto layer = dyn_cast_or_null<CompressibleLayer>(op)) {
          auto type = cast<RankedTensorType>(layer.getLayerWeight().getType());
          bytes.emplace_back(layerName(op), type.getNumElements() *
                                                int64_t(type.getElementTypeBitWidth() / 8));
        }
      };
      for (Operation *seed : plan.seeds)
        add(seed);
      add(plan.sink);
      return bytes;
    };
    auto bytesBefore = weightBytes();
    if (!plan.removed.empty())
      apply(plan, maybeDead);
    int64_t after = parameters(plan);
    auto bytesAfter = weightBytes();
    llvm::json::Array layerBytes;
    for (auto [b, a] : llvm::zip(bytesBefore, bytesAfter))
      layerBytes.push_back(llvm::json::Object{
          {"name", b.first}, {"bytes_before", b.second}, {"bytes_after", a.second}});
    if (options.progress)
      llvm::errs() << "compress-prune: [" << index + 1 << "/" << plans.size() << "] "
                   << kindName(plan.kind) << " '" << name << "': " << plan.units << " -> "
                   << plan.kept.size() << (plan.kind == Kind::Heads ? " head groups" : " channels")
                   << ", parameters " << before << " -> " << after << "\n";
    llvm::json::Array removed, producers;
    for (int64_t u : plan.removed)
      removed.push_back(u);
    for (Operation *seed : plan.seeds)
      producers.push_back(layerName(seed));
    llvm::json::Object entry{{"name", name},
                             {"kind", kindName(plan.kind)},
                             {"consumer", name},
                             {"producers", std::move(producers)},
                             {"channels_before", plan.units},
                             {"channels_after", int64_t(plan.kept.size())},
                             {"removed", std::move(removed)},
                             {"parameters_before", before},
                             {"parameters_after", after},
                             {"layer_bytes", std::move(layerBytes)}};
    if (plan.kind == Kind::Heads)
      entry.insert(
          {"features_per_group", cast<LinearOp>(plan.sink).getWeight().getType().getDimSize(1) /
                                     int64_t(plan.kept.size())});
    layers.push_back(std::move(entry));
  }
  // Constants and shapes the rewrites replaced.
  for (bool changed = true; changed;) {
    changed = false;
    for (Operation *op : llvm::make_early_inc_range(maybeDead))
      if (op->use_empty() && isMemoryEffectFree(op)) {
        for (Value operand : op->getOperands())
          if (Operation *def = operand.getDefiningOp())
            maybeDead.insert(def);
        maybeDead.remove(op);
        op->erase();
        changed = true;
      }
  }
  return llvm::Error::success();
}

} // namespace compress
