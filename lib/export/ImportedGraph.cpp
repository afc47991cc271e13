#include "lib/export/ImportedGraph.h"

#include "dialects/compress/IR/CompressOps.h"
#include "lib/importer/onnx/Importer.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Matchers.h"

using namespace compress;
using namespace mlir;

namespace {

func::FuncOp mainOf(ModuleOp module) { return module.lookupSymbol<func::FuncOp>("main"); }

llvm::Error error(const llvm::Twine &message) { return llvm::createStringError(message.str()); }

/// The ONNX node an op was imported from: its location's name.
std::string nodeOf(Operation *op) {
  if (auto name = dyn_cast<NameLoc>(op->getLoc()))
    return name.getName().str();
  return "";
}

std::string formOf(Operation *op) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << op->getName() << " -> " << op->getResultTypes();
  return s;
}

/// The import's signature of a layer op: its op, attributes and result type,
/// and which constants it reads (attributes are uniqued, so a rewritten
/// weight is a different pointer).
std::string signature(Operation *op) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << op->getName() << op->getAttrDictionary() << op->getResultTypes();
  for (Value v : op->getOperands()) {
    Attribute attr;
    if (matchPattern(v, m_Constant(&attr)))
      os << " c" << attr.getAsOpaquePointer();
    else
      os << " v";
  }
  return s;
}

/// The layer whose node a chain of layer ops stands for: the innermost of a
/// low-rank path adding a compressed layer's output (EoRA, the outlier
/// plugin's "NAME/outliers").
Operation *chainBase(Operation *op) {
  while (auto lowRank = dyn_cast<LowRankLinearOp>(op)) {
    Value addend = lowRank.getAddend();
    if (!addend || !addend.getDefiningOp<CompressibleLayer>())
      break;
    op = addend.getDefiningOp();
  }
  return op;
}

Producer producerOf(Value v, func::FuncOp main) {
  if (auto arg = dyn_cast<BlockArgument>(v)) {
    if (arg.getOwner() != &main.getBody().front())
      return {};
    auto name = main.getArgAttrOfType<StringAttr>(arg.getArgNumber(), kNameAttr);
    return {true, name ? name.str() : ""};
  }
  Operation *def = v.getDefiningOp();
  if (def->hasTrait<OpTrait::ConstantLike>())
    return {};
  return {false, nodeOf(chainBase(def))};
}

std::vector<std::string> names(func::FuncOp main, bool results) {
  std::vector<std::string> out;
  unsigned n = results ? main.getNumResults() : main.getNumArguments();
  for (unsigned i = 0; i < n; ++i) {
    auto name = results ? main.getResultAttrOfType<StringAttr>(i, kNameAttr)
                        : main.getArgAttrOfType<StringAttr>(i, kNameAttr);
    out.push_back(name ? name.str() : "");
  }
  return out;
}

} // namespace

llvm::Expected<ImportedGraph> ImportedGraph::take(ModuleOp module) {
  ImportedGraph graph;
  func::FuncOp main = mainOf(module);
  if (!main)
    return error("the module has no @main");
  llvm::Error failure = llvm::Error::success();
  main.getBody().walk([&](Operation *op) {
    if (op->hasTrait<OpTrait::ConstantLike>())
      return WalkResult::advance();
    OpRecord &record = graph.ops[op];
    record.node = nodeOf(op);
    record.form = formOf(op);
    for (Value v : op->getOperands())
      record.operands.push_back(producerOf(v, main));
    auto layer = dyn_cast<CompressibleLayer>(op);
    std::string name = layer ? layer.getLayerName("") : "";
    if (!name.empty() && !graph.layers.try_emplace(name, signature(op)).second) {
      failure = error("two layers are named '" + name + "'");
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  if (failure)
    return std::move(failure);
  graph.inputs = names(main, false);
  graph.outputs = names(main, true);
  return graph;
}

bool ImportedGraph::unchanged(llvm::StringRef name, Operation *layer) const {
  auto it = layers.find(name);
  return it != layers.end() && it->second == signature(layer);
}

std::vector<std::string> ImportedGraph::layerNames() const {
  std::vector<std::string> out;
  for (const auto &entry : layers)
    out.push_back(entry.getKey().str());
  return out;
}

llvm::Expected<GraphChanges> ImportedGraph::compare(ModuleOp module) const {
  static const char *kWritten =
      ": export writes passes that rewrite layers (compress-quantize weight-only, "
      "compress-factorize, compress-prune unstructured or N:M), remove whole blocks "
      "(compress-drop-blocks) or share them (compress-share-blocks), prune MLP channels "
      "(compress-prune pattern=structured) and route tokens (compress-token-skip skip-kv=false); "
      "outlined blocks are not exported";
  func::FuncOp main = mainOf(module);
  if (!main)
    return error("the module has no @main");
  GraphChanges changes;
  std::vector<std::string> inputsNow = names(main, false), outputsNow = names(main, true);
  llvm::StringSet<> surviving;
  llvm::DenseSet<Operation *> seen;
  llvm::Error failure = llvm::Error::success();
  main.getBody().walk([&](Operation *op) {
    if (op->hasTrait<OpTrait::ConstantLike>())
      return WalkResult::advance();
    surviving.insert(nodeOf(op));
    if (isa<CompressibleLayer>(op))
      return WalkResult::advance(); // rewritten layers are new ops; the exporter writes them
    auto it = ops.find(op);
    if (it == ops.end() && isa<RouteTokensOp, SelectTokensOp>(op)) {
      changes.tokenRouting.push_back(op);
      return WalkResult::advance();
    }
    if (it == ops.end()) {
      // New ops named after a layer's node, inside @main's body or inside
      // another such op: what a pass added after that layer.
      Operation *top = op;
      while (top->getParentOp() != main.getOperation())
        top = top->getParentOp();
      std::string node = nodeOf(top);
      if (!ops.count(top) && layers.count(node)) {
        if (top == op)
          changes.layerEpilogues[node].push_back(op);
        return WalkResult::advance();
      }
    }
    bool isReturn = isa<func::ReturnOp>(op) && op->getParentOp() == main.getOperation();
    if (it == ops.end() || (!isReturn && it->second.operands.size() != op->getNumOperands())) {
      failure = error("the passes added '" + formOf(op) + "' (node '" + nodeOf(op) +
                      "') outside the layers" + kWritten);
      return WalkResult::interrupt();
    }
    if (it->second.form != formOf(op))
      changes.reshapedNodes.insert(it->second.node);
    seen.insert(op);
    // @main's results are matched by name: a pass may have removed some.
    for (auto [i, v] : llvm::enumerate(op->getOperands())) {
      size_t at = i;
      if (isReturn)
        at = llvm::find(outputs, outputsNow[i]) - outputs.begin();
      if (at >= it->second.operands.size())
        continue; // a new graph output: reported below
      const Producer &before = it->second.operands[at];
      Producer now = producerOf(v, main);
      if (now == before || before.name == it->second.node || now.name == it->second.node)
        continue;
      if (before.graphInput || before.name.empty()) {
        failure = error("the passes rewired '" + formOf(op) + "' (node '" + it->second.node +
                        "') away from the graph input or constant it read" + kWritten);
        return WalkResult::interrupt();
      }
      changes.rewired.emplace_back(before.name, now);
    }
    return WalkResult::advance();
  });
  if (failure)
    return std::move(failure);
  for (const auto &[op, record] : ops) {
    if (seen.contains(op) || record.node.empty())
      continue;
    // An op lost from a node that keeps others was dead (the importer shares
    // shape arithmetic between nodes; compress-drop-blocks erases what only a
    // dropped block read): what the node computes is unchanged, or a reader
    // would have been rewired.
    if (!surviving.contains(record.node))
      changes.removedNodes.insert(record.node);
  }
  for (const std::string &name : inputs)
    if (!llvm::is_contained(inputsNow, name))
      changes.removedInputs.push_back(name);
  for (const std::string &name : outputs)
    if (!llvm::is_contained(outputsNow, name))
      changes.removedOutputs.push_back(name);
  for (const std::string &name : inputsNow)
    if (!llvm::is_contained(inputs, name))
      return error("the passes added the graph input '" + name + "'" + kWritten);
  for (const std::string &name : outputsNow)
    if (!llvm::is_contained(outputs, name))
      return error("the passes added the graph output '" + name + "'" + kWritten);
  return changes;
}
