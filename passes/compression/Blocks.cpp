// Block discovery (Blocks.h): residual stream by post-dominance, segments
// between its values, blocks as the longest repetition of segment
// structures.
#include "passes/compression/Blocks.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

#include "llvm/ADT/BitVector.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/Hashing.h"

#include <optional>

using namespace mlir;
using namespace compress;

namespace {

/// The annotation compress-find-blocks adds; discovery ignores it.
constexpr llvm::StringLiteral kBlockAttr = "compress.block";

/// Values an op of @main's body reads from that body: its operands and
/// those its regions capture.
SmallVector<Value> topLevelInputs(Operation *op, mlir::Block *body) {
  SmallVector<Value> inputs(op->getOperands());
  op->walk([&](Operation *nested) {
    if (nested == op)
      return;
    for (Value v : nested->getOperands())
      if (v.getParentBlock() == body)
        inputs.push_back(v);
  });
  return inputs;
}

/// Whether values of `type` are activations: float tensors.
bool isActivation(Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  return tensor && isa<FloatType>(tensor.getElementType());
}

/// The ops of @main's body that read `v` (directly or from their regions).
SmallVector<Operation *> topLevelUsers(Value v, mlir::Block *body) {
  SmallVector<Operation *> users;
  for (Operation *user : v.getUsers())
    if (Operation *ancestor = body->findAncestorOpInBlock(*user))
      if (!llvm::is_contained(users, ancestor))
        users.push_back(ancestor);
  return users;
}

/// A type as structure sees it: tensors by element type and rank, so that
/// a block whose shapes the tool left symbolic (a cache input not given)
/// still matches the others.
llvm::hash_code typeHash(Type type) {
  if (auto shaped = dyn_cast<ShapedType>(type); shaped && shaped.hasRank())
    return llvm::hash_combine(shaped.getElementType(), shaped.getRank());
  return llvm::hash_value(type.getAsOpaquePointer());
}

llvm::hash_code typesHash(TypeRange types) {
  llvm::hash_code hash = llvm::hash_value(types.size());
  for (Type type : types)
    hash = llvm::hash_combine(hash, typeHash(type));
  return hash;
}

/// The attribute of a float splat constant (an epsilon, a scale), or none.
std::optional<Attribute> floatSplat(Operation *def) {
  auto constant = def ? dyn_cast<arith::ConstantOp>(def) : nullptr;
  auto elements = constant ? dyn_cast<SplatElementsAttr>(constant.getValue()) : nullptr;
  if (elements && isa<FloatType>(elements.getElementType()))
    return elements.getSplatValue<Attribute>();
  if (constant && isa<FloatAttr>(constant.getValue()))
    return constant.getValue();
  return std::nullopt;
}

/// Structure of an op apart from its operands: name, properties, types,
/// attributes (not the block annotation), and its regions' ops likewise.
llvm::hash_code structureHash(Operation *op) {
  // Slices' static offsets and sizes are shapes, as types are.
  llvm::hash_code properties =
      isa<OffsetSizeAndStrideOpInterface>(op) ? llvm::hash_code(0) : op->hashProperties();
  llvm::hash_code hash =
      llvm::hash_combine(op->getName(), properties, typesHash(op->getResultTypes()));
  for (NamedAttribute attr : op->getDiscardableAttrs())
    if (attr.getName() != kBlockAttr)
      hash = llvm::hash_combine(hash, attr.getName(), attr.getValue());
  for (Region &region : op->getRegions())
    region.walk([&](Operation *nested) {
      hash = llvm::hash_combine(hash, structureHash(nested));
      for (Value v : nested->getOperands())
        if (auto arg = dyn_cast<BlockArgument>(v))
          hash = llvm::hash_combine(hash, arg.getArgNumber());
    });
  return hash;
}

/// Post-dominators of @main's result `resultIndex` over its top-level
/// values: nodes are the arguments (0 .. A-1) and the ops (A ..).
struct PostDominators {
  static constexpr int kSink = -1;
  Operation *target = nullptr;
  std::vector<int> ipdom, depth; // depth 0: the node does not reach the result
};

class Discovery {
public:
  explicit Discovery(func::FuncOp main) : main(main), body(&main.getBody().front()) {
    for (BlockArgument arg : body->getArguments())
      nodeValues.push_back(arg);
    for (Operation &op : body->without_terminator()) {
      opNode[&op] = int(ops.size()) + int(body->getNumArguments());
      ops.push_back(&op);
      opInputs.push_back(topLevelInputs(&op, body));
      opStructure.push_back(structureHash(&op));
    }
  }

  BlockStructure run();

private:
  int numNodes() const { return int(body->getNumArguments() + ops.size()); }
  int nodeOf(Operation *op) const { return opNode.lookup(op); }
  /// The post-dominator tree of @main's result `r` over the activations.
  std::optional<PostDominators> postDominators(unsigned r);
  /// The chains of residual stream values from each argument to the tree's
  /// result (their post-dominators), earliest first.
  std::vector<std::vector<Value>> chains(const PostDominators &tree);
  /// Structure of each segment between consecutive chain values.
  std::vector<llvm::hash_code> segmentHashes(const std::vector<Value> &chain);
  /// A run of `count` blocks of `period` segments from segment `start`.
  struct Repetition {
    size_t layers = 0, period = 0, start = 0, count = 0;
    bool startsWithLayer = false;
  };
  /// The repetition along `chain` that covers the most layers, if any.
  std::optional<Repetition> bestRepetition(const std::vector<Value> &chain);
  std::vector<RepeatedBlock> blocksOf(const std::vector<Value> &chain,
                                      const Repetition &repetition);
  std::optional<unsigned> chainIndexOf(Value v) const {
    auto it = chainIndex.find(v);
    return it == chainIndex.end() ? std::nullopt : std::optional<unsigned>(it->second);
  }

  func::FuncOp main;
  mlir::Block *body;
  std::vector<Value> nodeValues;     // arguments
  std::vector<Operation *> ops;      // top-level ops but the terminator
  // Per op, chain-independent: what it reads and its structure.
  std::vector<SmallVector<Value>> opInputs;
  std::vector<llvm::hash_code> opStructure;
  llvm::DenseMap<Operation *, int> opNode;
  llvm::DenseMap<Value, unsigned> chainIndex;
  std::vector<int> level;            // per op: the latest chain value it depends on, or -1
};

std::optional<PostDominators> Discovery::postDominators(unsigned r) {
  Value target = body->getTerminator()->getOperand(r);
  Operation *targetOp = target.getDefiningOp();
  if (!targetOp || targetOp->getBlock() != body || targetOp->getNumResults() != 1)
    return std::nullopt;
  int n = numNodes(), args = int(body->getNumArguments());
  PostDominators tree{targetOp, std::vector<int>(n, PostDominators::kSink), std::vector<int>(n, 0)};
  std::vector<int> &ipdom = tree.ipdom, &depth = tree.depth;
  auto lca = [&](int a, int b) {
    while (a != b) {
      if (a == PostDominators::kSink || b == PostDominators::kSink)
        return int(PostDominators::kSink);
      if (depth[a] >= depth[b])
        a = ipdom[a];
      else
        b = ipdom[b];
    }
    return a;
  };
  auto visit = [&](int node, ValueRange results) {
    std::optional<int> meet;
    for (Value v : results)
      for (Operation *user : topLevelUsers(v, body)) {
        // Shape arithmetic (dims of a hidden state) does not carry the stream.
        if (user == body->getTerminator() ||
            !llvm::any_of(user->getResultTypes(), isActivation))
          continue;
        int u = nodeOf(user);
        if (depth[u] == 0)
          continue;
        meet = meet ? lca(*meet, u) : u;
      }
    if (meet && *meet != PostDominators::kSink) {
      ipdom[node] = *meet;
      depth[node] = depth[*meet] + 1;
    }
  };
  for (int i = int(ops.size()) - 1; i >= 0; --i) {
    int node = args + i;
    if (ops[i] == targetOp) {
      depth[node] = 1;
      continue;
    }
    visit(node, ops[i]->getResults());
  }
  for (int a = 0; a < args; ++a)
    visit(a, ValueRange(nodeValues[a]));
  return tree;
}

std::vector<std::vector<Value>> Discovery::chains(const PostDominators &tree) {
  int args = int(body->getNumArguments());
  // The stream starts at an argument (token ids, hidden states, a cache
  // tensor): one chain from each argument that reaches the result.
  std::vector<std::vector<Value>> result;
  for (int start = 0; start < args; ++start) {
    if (tree.depth[start] == 0)
      continue;
    std::vector<Value> values;
    for (int node = start; node != PostDominators::kSink; node = tree.ipdom[node]) {
      if (node < args) {
        values.push_back(nodeValues[node]);
        continue;
      }
      Operation *op = ops[node - args];
      if (op->getNumResults() == 1)
        values.push_back(op->getResult(0));
      if (op == tree.target)
        break;
    }
    result.push_back(std::move(values));
  }
  return result;
}

std::vector<llvm::hash_code> Discovery::segmentHashes(const std::vector<Value> &chain) {
  chainIndex.clear();
  for (auto [i, v] : llvm::enumerate(chain))
    chainIndex[v] = unsigned(i);
  level.assign(ops.size(), -1);
  llvm::DenseMap<Operation *, unsigned> localIndex;
  std::vector<unsigned> segmentSize(chain.size(), 0);
  std::vector<llvm::hash_code> hashes(chain.size() - 1, llvm::hash_code(0));
  auto levelOf = [&](Value v) -> int {
    if (auto c = chainIndexOf(v))
      return int(*c);
    Operation *def = v.getDefiningOp();
    return def && def->getBlock() == body ? level[nodeOf(def) - body->getNumArguments()] : -1;
  };
  for (auto [i, op] : llvm::enumerate(ops)) {
    const SmallVector<Value> &inputs = opInputs[i];
    // Only activations carry the stream: shape arithmetic on them (dims,
    // index casts, shape tensors) is a side computation.
    int l = -1;
    if (llvm::any_of(op->getResultTypes(), isActivation))
      for (Value v : inputs)
        l = std::max(l, levelOf(v));
    level[i] = l;
    if (l < 0 || l + 1 >= int(chain.size()))
      continue;
    localIndex[op] = segmentSize[l]++;
    llvm::hash_code hash = opStructure[i];
    for (Value v : inputs) {
      // Scalar sizes and offsets are shapes: static in one block, computed
      // in another when the tool left its inputs symbolic.
      if (v.getType().isIntOrIndex())
        continue;
      Operation *def = v.getDefiningOp();
      llvm::hash_code key;
      if (chainIndexOf(v) == unsigned(l)) {
        key = llvm::hash_value(2);
      } else if (int dl = levelOf(v); dl >= 0 && def) {
        key = llvm::hash_combine(3, l - dl, localIndex.lookup(def),
                                 cast<OpResult>(v).getResultNumber());
      } else if (auto splat = floatSplat(def)) {
        key = llvm::hash_combine(4, *splat); // epsilons, scales
      } else {
        // Weights, shapes and side values (masks, rotary tables) by type
        // alone: weights differ from block to block, and shapes are
        // constants or computed at run time as the tool specialised them.
        key = llvm::hash_combine(5, typeHash(v.getType()));
      }
      hash = llvm::hash_combine(hash, key);
    }
    hashes[l] = llvm::hash_combine(hashes[l], hash);
  }
  return hashes;
}

std::optional<Discovery::Repetition> Discovery::bestRepetition(const std::vector<Value> &chain) {
  std::vector<llvm::hash_code> hashes = segmentHashes(chain);
  size_t m = hashes.size();
  std::vector<size_t> segmentLayers(m, 0);
  for (auto [i, op] : llvm::enumerate(ops))
    if (level[i] >= 0 && size_t(level[i]) < m && isa<CompressibleLayer>(op))
      ++segmentLayers[level[i]];
  // The repetition covering the most layers; then the shortest period, a
  // block starting with a layer, the earliest start.
  std::optional<Repetition> best;
  auto better = [&](const Repetition &c) {
    if (!best)
      return true;
    if (c.layers != best->layers)
      return c.layers > best->layers;
    if (c.period != best->period)
      return c.period < best->period;
    return c.startsWithLayer && !best->startsWithLayer;
  };
  for (size_t p = 1; p <= m / 2; ++p)
    for (size_t a = 0; a + 2 * p <= m; ++a) {
      size_t run = 0;
      while (a + run + p < m && hashes[a + run] == hashes[a + run + p])
        ++run;
      // Blocks keep the stream's type: each one's output can stand for its
      // input.
      size_t count = 1 + run / p;
      while (count >= 2 && !llvm::all_of(llvm::seq<size_t>(0, count), [&](size_t b) {
        return chain[a + b * p].getType() == chain[a + (b + 1) * p].getType();
      }))
        --count;
      size_t perBlock = 0;
      for (size_t s = a; s < a + p; ++s)
        perBlock += segmentLayers[s];
      if (count < 2 || perBlock == 0)
        continue;
      Repetition c{perBlock * count, p, a, count, segmentLayers[a] > 0};
      if (better(c))
        best = c;
    }
  return best;
}

std::vector<RepeatedBlock> Discovery::blocksOf(const std::vector<Value> &chain,
                                               const Repetition &repetition) {
  segmentHashes(chain); // the levels of this chain
  std::vector<RepeatedBlock> blocks;
  for (size_t b = 0; b < repetition.count; ++b) {
    RepeatedBlock block;
    block.index = unsigned(b);
    int first = int(repetition.start + b * repetition.period);
    int last = first + int(repetition.period);
    block.input = chain[first];
    block.output = chain[last];
    for (auto [i, op] : llvm::enumerate(ops))
      if (level[i] >= first && level[i] < last) {
        block.ops.push_back(op);
        if (auto layer = dyn_cast<CompressibleLayer>(op))
          block.layers.push_back(layer);
      }
    blocks.push_back(std::move(block));
  }
  return blocks;
}

BlockStructure Discovery::run() {
  std::optional<Repetition> best;
  std::vector<Value> bestChain;
  unsigned numResults = body->getTerminator()->getNumOperands();
  std::vector<std::optional<PostDominators>> trees;
  for (unsigned r = 0; r < numResults; ++r)
    trees.push_back(postDominators(r));
  // A result that feeds another (a cache's present tensor feeding the
  // logits) has a shorter stream: only the last results are followed.
  auto feedsAnother = [&](unsigned r) {
    return llvm::any_of(trees, [&](const std::optional<PostDominators> &other) {
      return other && other->target != trees[r]->target &&
             other->depth[nodeOf(trees[r]->target)] > 0;
    });
  };
  for (unsigned r = 0; r < numResults; ++r) {
    if (!trees[r] || feedsAnother(r))
      continue;
    for (const std::vector<Value> &chain : chains(*trees[r])) {
      if (chain.size() < 3)
        continue;
      std::optional<Repetition> found = bestRepetition(chain);
      if (found && (!best || found->layers > best->layers)) {
        best = found;
        bestChain = chain;
      }
    }
  }
  BlockStructure structure;
  if (!best) {
    structure.reason = "the model has no repeated blocks";
    return structure;
  }
  structure.blocks = blocksOf(bestChain, *best);
  return structure;
}

} // namespace

BlockStructure compress::findBlocks(func::FuncOp main) {
  if (main.isExternal() || !llvm::hasSingleElement(main.getBody()))
    return BlockStructure{{}, "@main is not a single-block function"};
  WalkResult outlined = main.walk([&](func::CallOp call) {
    auto callee = SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(call, call.getCalleeAttr());
    return callee && callee->hasAttr(kBlockAttr) ? WalkResult::interrupt() : WalkResult::advance();
  });
  if (outlined.wasInterrupted())
    return BlockStructure{{}, "its blocks are outlined as functions (compress-outline-blocks); "
                              "inline them first (compress-inline-blocks)"};
  return Discovery(main).run();
}

FailureOr<BlockStructure> compress::requireBlocks(ModuleOp module, StringRef pass) {
  auto main = module.lookupSymbol<func::FuncOp>("main");
  if (!main) {
    module.emitError() << pass << ": the module has no func.func @main";
    return failure();
  }
  BlockStructure structure = findBlocks(main);
  if (structure.blocks.empty()) {
    module.emitError() << pass << ": cannot find the model's blocks: " << structure.reason;
    return failure();
  }
  return structure;
}

llvm::json::Object compress::describeBlock(const RepeatedBlock &block) {
  llvm::json::Array layers;
  for (CompressibleLayer layer : block.layers)
    layers.push_back(layer.getLayerName("?"));
  return llvm::json::Object{{"index", int64_t(block.index)},
                            {"layers", std::move(layers)},
                            {"ops", int64_t(block.ops.size())}};
}

DroppedInterface compress::dropBlocks(func::FuncOp main, const BlockStructure &structure,
                                      ArrayRef<unsigned> blocks) {
  mlir::Block *body = &main.getBody().front();
  Operation *terminator = body->getTerminator();
  DroppedInterface dropped;
  SmallVector<unsigned> order(blocks);
  llvm::sort(order, std::greater<unsigned>());
  // Arguments read now and by nothing once the blocks are gone leave.
  llvm::BitVector argsRead(body->getNumArguments());
  for (BlockArgument arg : body->getArguments())
    if (!arg.use_empty())
      argsRead.set(arg.getArgNumber());
  llvm::DenseSet<Operation *> droppedOps;
  for (unsigned index : order) {
    const RepeatedBlock &block = structure.blocks[index];
    Value output = block.output;
    output.replaceAllUsesWith(block.input);
    droppedOps.insert(block.ops.begin(), block.ops.end());
  }
  // Results only dropped ops computed (a cache's present tensors) leave.
  llvm::BitVector resultsToErase(terminator->getNumOperands());
  for (OpOperand &operand : terminator->getOpOperands())
    if (Operation *def = operand.get().getDefiningOp(); def && droppedOps.contains(def))
      resultsToErase.set(operand.getOperandNumber());
  for (unsigned r : resultsToErase.set_bits())
    if (auto name = main.getResultAttrOfType<StringAttr>(r, "compress.name"))
      dropped.results.push_back(name.str());
  terminator->eraseOperands(resultsToErase);
  (void)main.eraseResults(resultsToErase);
  // Erase what nothing reads any more, from the end, side computations
  // (constants, shapes, masks) of the dropped blocks included.
  for (Operation *op = terminator->getPrevNode(); op;) {
    Operation *previous = op->getPrevNode();
    if (droppedOps.contains(op) ? op->use_empty() : isOpTriviallyDead(op))
      op->erase();
    op = previous;
  }
  llvm::BitVector argsToErase(body->getNumArguments());
  for (BlockArgument arg : body->getArguments())
    if (argsRead.test(arg.getArgNumber()) && arg.use_empty()) {
      argsToErase.set(arg.getArgNumber());
      if (auto name = main.getArgAttrOfType<StringAttr>(arg.getArgNumber(), "compress.name"))
        dropped.arguments.push_back(name.str());
    }
  (void)main.eraseArguments(argsToErase);
  return dropped;
}
