#include "lib/export/OnnxExport.h"

#include "lib/export/LayerNodes.h"
#include "lib/importer/onnx/Importer.h"
#include "lib/importer/onnx/NodeContext.h"
#include "lib/importer/onnx/OnnxModel.h"
#include "lib/support/AtomicOutput.h"

#include "dialects/compress/IR/CompressOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Path.h"

#include <map>

using namespace compress;
using namespace mlir;

namespace {

func::FuncOp mainOf(ModuleOp module) { return module.lookupSymbol<func::FuncOp>("main"); }

llvm::Error error(const llvm::Twine &message) { return llvm::createStringError(message.str()); }

/// Whether `generic` computes `layerOutput` * scales (+ bias) with scales and
/// bias along the last dimension: compress-share-blocks' scaling.
bool isChannelScaling(linalg::GenericOp generic, Value layerOutput) {
  auto inputs = generic.getInputs();
  if (inputs.size() < 2 || inputs.size() > 3 || inputs[0] != layerOutput ||
      generic.getNumResults() != 1)
    return false;
  int64_t rank = cast<RankedTensorType>(layerOutput.getType()).getRank();
  auto maps = generic.getIndexingMapsArray();
  AffineMap channel = AffineMap::get(rank, 0, getAffineDimExpr(rank - 1, generic.getContext()));
  for (size_t i = 0; i < maps.size(); ++i) {
    bool perChannel = i >= 1 && i < inputs.size();
    if (maps[i] != (perChannel ? channel : AffineMap::getMultiDimIdentityMap(rank, generic.getContext())))
      return false;
  }
  for (size_t i = 1; i < inputs.size(); ++i)
    if (!matchPattern(inputs[i], m_Constant()))
      return false;
  Block &body = generic.getRegion().front();
  auto ops = body.without_terminator();
  auto it = ops.begin();
  auto mul = it != ops.end() ? dyn_cast<arith::MulFOp>(*it++) : arith::MulFOp();
  if (!mul || mul.getLhs() != body.getArgument(0) || mul.getRhs() != body.getArgument(1))
    return false;
  Value result = mul;
  if (inputs.size() == 3) {
    auto add = it != ops.end() ? dyn_cast<arith::AddFOp>(*it++) : arith::AddFOp();
    if (!add || add.getLhs() != mul.getResult() || add.getRhs() != body.getArgument(2))
      return false;
    result = add;
  }
  return it == ops.end() && body.getTerminator()->getOperand(0) == result;
}

/// Every value name a graph and its subgraphs read (node inputs, graph
/// outputs), for finding nodes and initializers nothing reads any more.
void collectReads(const onnx::GraphProto &graph, llvm::StringSet<> &reads) {
  for (const auto &out : graph.output())
    reads.insert(out.name());
  for (const auto &node : graph.node()) {
    for (const auto &in : node.input())
      reads.insert(in);
    for (const auto &attr : node.attribute()) {
      if (attr.has_g())
        collectReads(attr.g(), reads);
      for (const auto &g : attr.graphs())
        collectReads(g, reads);
    }
  }
}

/// Whether each node of `graph` feeds an output, walking back from the
/// outputs (nodes are in topological order).
std::vector<bool> liveNodes(const onnx::GraphProto &graph) {
  llvm::StringSet<> live;
  for (const auto &out : graph.output())
    live.insert(out.name());
  std::vector<bool> isLive(graph.node_size());
  for (int i = graph.node_size() - 1; i >= 0; --i) {
    const onnx::NodeProto &node = graph.node(i);
    isLive[i] = llvm::any_of(node.output(), [&](const std::string &o) { return live.contains(o); });
    if (!isLive[i])
      continue;
    llvm::StringSet<> nested;
    for (const auto &attr : node.attribute()) {
      if (attr.has_g())
        collectReads(attr.g(), nested);
      for (const auto &g : attr.graphs())
        collectReads(g, nested);
    }
    for (const auto &in : node.input())
      live.insert(in);
    for (const auto &entry : nested)
      live.insert(entry.getKey());
  }
  return isLive;
}

/// Writes the initializers' bytes: large ones into one external data file
/// beside the model, the rest inline.
llvm::Error placeTensorData(const OnnxModel &model, onnx::GraphProto &graph, bool external,
                            llvm::StringRef outputPath, PendingOutputs &outputs) {
  std::optional<AtomicFile> data;
  std::string dataName = llvm::sys::path::filename(outputPath).str() + ".data";
  uint64_t offset = 0;
  for (onnx::TensorProto &t : *graph.mutable_initializer()) {
    bool wasExternal = t.data_location() == onnx::TensorProto::EXTERNAL;
    if (!external && !wasExternal)
      continue; // stays as the model had it
    std::vector<char> copy;
    std::optional<MappedTensorBytes> mapped;
    llvm::StringRef bytes;
    if (t.has_raw_data() && !wasExternal) {
      bytes = t.raw_data();
    } else if (wasExternal) {
      auto m = mapTensorBytes(model, t);
      if (!m)
        return m.takeError();
      mapped = std::move(**m);
      bytes = llvm::StringRef(mapped->bytes.data(), mapped->bytes.size());
    } else { // typed fields
      auto read = readTensorBytes(model, t);
      if (!read)
        return read.takeError();
      copy = std::move(*read);
      bytes = llvm::StringRef(copy.data(), copy.size());
    }
    if (!external || bytes.size() < 1024) {
      std::string inlineBytes = bytes.str();
      t.clear_external_data();
      t.clear_data_location();
      t.set_raw_data(std::move(inlineBytes));
      continue;
    }
    if (!data) {
      llvm::SmallString<256> dataPath(outputPath);
      llvm::sys::path::remove_filename(dataPath);
      llvm::sys::path::append(dataPath, dataName);
      auto file = AtomicFile::create(dataPath);
      if (!file)
        return file.takeError();
      data.emplace(std::move(*file));
    }
    data->os().write(bytes.data(), bytes.size());
    std::string location = dataName;
    t.clear_raw_data();
    t.clear_float_data();
    t.clear_int32_data();
    t.clear_int64_data();
    t.clear_double_data();
    t.clear_uint64_data();
    t.clear_string_data();
    t.clear_external_data();
    t.set_data_location(onnx::TensorProto::EXTERNAL);
    auto entry = [&](const char *key, const std::string &value) {
      onnx::StringStringEntryProto *e = t.add_external_data();
      e->set_key(key);
      e->set_value(value);
    };
    entry("location", location);
    entry("offset", std::to_string(offset));
    entry("length", std::to_string(bytes.size()));
    offset += bytes.size();
  }
  if (data)
    return outputs.add(std::move(*data));
  return llvm::Error::success();
}

} // namespace

llvm::Error compress::exportOnnx(const OnnxModel &model, ModuleOp module,
                                 const ImportedGraph &imported, llvm::StringRef outputPath,
                                 const OnnxExportOptions &options, PendingOutputs &outputs) {
  auto changes = imported.compare(module);
  if (!changes)
    return changes.takeError();
  onnx::ModelProto proto = model.proto;
  onnx::GraphProto &graph = *proto.mutable_graph();

  // Names in use, so that new values, initializers and nodes take fresh ones.
  llvm::StringSet<> taken;
  for (const auto &node : graph.node()) {
    taken.insert(node.name());
    for (const auto &o : node.output())
      taken.insert(o);
  }
  for (const auto &t : graph.initializer())
    taken.insert(t.name());
  for (const auto &v : graph.input())
    taken.insert(v.name());
  auto uniqueName = [&](const std::string &wanted) {
    std::string name = wanted;
    for (int i = 1; taken.contains(name); ++i)
      name = wanted + "_" + std::to_string(i);
    taken.insert(name);
    return name;
  };
  llvm::StringMap<int> nodeByName;
  for (int i = 0; i < graph.node_size(); ++i) {
    auto [it, fresh] = nodeByName.try_emplace(nodeDisplayName(graph.node(i)), i);
    if (!fresh)
      it->second = -1; // ambiguous
  }

  // Each chain of layer ops (a low-rank path adding a compressed layer's
  // output) replaces the node its innermost layer was imported from.
  std::map<int, LayerNodes> replacements;
  std::map<const void *, std::string> sharedWeights;
  llvm::StringSet<> present;
  bool microsoft = false;
  llvm::Error failure = llvm::Error::success();
  mainOf(module).getBody().walk([&](CompressibleLayer root) {
    Operation *op = root.getOperation();
    auto isAddend = [&](OpOperand &use) {
      auto user = dyn_cast<LowRankLinearOp>(use.getOwner());
      return user && user.getAddend() == use.get();
    };
    if (llvm::any_of(op->getUses(), isAddend)) {
      if (!op->hasOneUse())
        failure = error("layer '" + root.getLayerName("?") +
                        "': its output is both added by a low-rank path and read elsewhere");
      return failure ? WalkResult::interrupt() : WalkResult::advance();
    }
    Operation *innermost = op;
    int length = 1;
    while (auto lowRank = dyn_cast<LowRankLinearOp>(innermost)) {
      if (!lowRank.getAddend() || !lowRank.getAddend().getDefiningOp<CompressibleLayer>())
        break;
      innermost = lowRank.getAddend().getDefiningOp();
      ++length;
    }
    std::string name = cast<CompressibleLayer>(innermost).getLayerName("");
    present.insert(name);
    if (length == 1 && imported.unchanged(name, op))
      return WalkResult::advance();
    auto fail = [&](const llvm::Twine &why) {
      failure = error("layer '" + name + "': " + why);
      return WalkResult::interrupt();
    };
    auto found = nodeByName.find(name);
    if (name.empty())
      return fail("the layer has no name, so no node of the model's graph stands for it");
    if (found == nodeByName.end())
      return fail("no node of the model's graph has this name (layers inside subgraphs are not "
                  "exported)");
    if (found->second < 0)
      return fail("several nodes of the model's graph have this name");
    const onnx::NodeProto &node = graph.node(found->second);
    bool nbits = node.op_type() == "MatMulNBits" && node.domain() == "com.microsoft";
    bool onnxDomain = node.domain().empty() || node.domain() == "ai.onnx";
    if (!nbits && !(onnxDomain && (node.op_type() == "MatMul" || node.op_type() == "Gemm")))
      return fail("its node is a " + node.op_type() +
                  "; export rewrites MatMul, Gemm and MatMulNBits nodes");
    auto [it, fresh] = replacements.try_emplace(found->second, node.name(), node.input(1),
                                                uniqueName, options.accuracyLevel, sharedWeights);
    if (!fresh)
      return fail("two rewritten layers stand for its node");
    // A scaling a pass added after the layer (shared blocks) ends the chain.
    linalg::GenericOp scaling;
    if (auto added = changes->layerEpilogues.find(name); added != changes->layerEpilogues.end()) {
      for (Operation *extra : added->second) {
        auto generic = dyn_cast<linalg::GenericOp>(extra);
        if (generic && !scaling && isChannelScaling(generic, op->getResult(0)))
          scaling = generic;
        else if (!isa<tensor::EmptyOp, tensor::DimOp>(extra))
          return fail("the passes added '" + extra->getName().getStringRef() +
                      "' after it, which export does not write");
      }
    }
    std::string layerOutput = scaling ? uniqueName(node.output(0) + "/unscaled") : node.output(0);
    if (llvm::Error e = it->second.emit(op, node.input(0), layerOutput))
      return fail(llvm::toString(std::move(e)));
    if (scaling)
      if (llvm::Error e = it->second.emitScaling(
              layerOutput, node.output(0), scaling.getInputs()[1],
              scaling.getInputs().size() > 2 ? scaling.getInputs()[2] : Value()))
        return fail(llvm::toString(std::move(e)));
    microsoft |= it->second.usesMicrosoftDomain;
    return WalkResult::advance();
  });
  if (failure)
    return failure;
  for (const std::string &name : imported.layerNames())
    if (!present.contains(name) && !changes->removedNodes.contains(name))
      return error("layer '" + name + "' is gone from the compressed model");

  // Values that surviving nodes read from removed ones now come from
  // elsewhere (a dropped block's output is its input): an Identity in the
  // removed producer's place keeps the value's name for its readers.
  auto singleOutput = [&](llvm::StringRef node) -> llvm::Expected<std::string> {
    auto found = nodeByName.find(node);
    if (found == nodeByName.end() || found->second < 0)
      return error("node '" + node + "' is not one node of the model's graph");
    const onnx::NodeProto &n = graph.node(found->second);
    if (n.output_size() != 1)
      return error("node '" + node + "' has " + llvm::Twine(n.output_size()) +
                   " outputs: which one a pass rewired is unknown");
    return n.output(0);
  };
  std::map<int, onnx::NodeProto> identities;
  for (const auto &[oldNode, now] : changes->rewired) {
    if (!changes->removedNodes.contains(oldNode))
      return error("the passes rewired readers of node '" + oldNode +
                   "', which they kept: export writes removals of whole nodes only");
    auto oldValue = singleOutput(oldNode);
    if (!oldValue)
      return oldValue.takeError();
    std::string newValue = now.name;
    if (!now.graphInput) {
      auto produced = singleOutput(now.name);
      if (!produced)
        return produced.takeError();
      newValue = *produced;
    }
    int at = nodeByName.lookup(oldNode);
    auto [it, fresh] = identities.try_emplace(at);
    if (!fresh && it->second.input(0) != newValue)
      return error("the passes rewired the readers of '" + *oldValue + "' to both '" +
                   it->second.input(0) + "' and '" + newValue + "'");
    if (fresh) {
      it->second.set_op_type("Identity");
      it->second.set_name(uniqueName(*oldValue + "/removed"));
      it->second.add_input(newValue);
      it->second.add_output(*oldValue);
    }
  }
  // Ops computing other shapes than at import (structured pruning's smaller
  // channels): their nodes stay as written when ONNX infers their shapes
  // from their inputs, elementwise ops reading no constant; a node whose
  // sizes are written in it (a Reshape's shape, a bias) would need
  // rewriting.
  static const llvm::StringSet<> kShapeFollowing = {
      "Add", "Sub", "Mul", "Div", "Relu", "Sigmoid", "Tanh", "Erf", "Gelu", "Silu",
      "Neg", "Exp", "Sqrt", "Identity", "Softplus", "HardSigmoid", "HardSwish", "LeakyRelu"};
  llvm::StringSet<> constants;
  for (const onnx::TensorProto &t : graph.initializer())
    constants.insert(t.name());
  for (const onnx::NodeProto &n : graph.node())
    if (n.op_type() == "Constant")
      for (const std::string &o : n.output())
        constants.insert(o);
  for (const auto &entry : changes->reshapedNodes) {
    llvm::StringRef name = entry.getKey();
    if (changes->removedNodes.contains(name))
      continue;
    auto found = nodeByName.find(name);
    if (imported.isLayer(name))
      continue; // written from its layer op, whatever its sizes
    if (found == nodeByName.end() || found->second < 0)
      return error("the passes changed the shapes computed by '" + name +
                   "', which is not one node of the model's graph");
    const onnx::NodeProto &n = graph.node(found->second);
    bool onnxDomain = n.domain().empty() || n.domain() == "ai.onnx";
    const std::string *constant = nullptr;
    for (const std::string &in : n.input())
      if (constants.contains(in))
        constant = &in;
    if (!onnxDomain || !kShapeFollowing.contains(n.op_type()) || constant)
      return error("the passes changed the shapes node '" + name + "' (" + n.op_type() +
                   ") computes, and " +
                   (constant ? "it reads the constant '" + *constant + "'"
                             : std::string("its sizes are not inferred from its inputs alone")) +
                   ": export writes pruned MLP channels (structured-targets=mlp), not pruned "
                   "attention heads or convolution filters");
  }
  // Token routing (compress-token-skip): each select becomes a Where after
  // its block's last node, whose output it takes over (the block's own
  // result renamed), with the router's nodes before it.
  std::map<int, std::vector<onnx::NodeProto>> afterNode;
  std::map<int, std::string> renamedOutput;
  std::vector<onnx::TensorProto> routerInitializers;
  auto valueOf = [&](Value v) -> llvm::Expected<std::string> {
    if (auto arg = dyn_cast<BlockArgument>(v)) {
      auto name = mainOf(module).getArgAttrOfType<StringAttr>(arg.getArgNumber(), kNameAttr);
      if (name && arg.getOwner()->getParentOp() == mainOf(module).getOperation())
        return name.str();
      return error("a routed value is no graph input");
    }
    auto loc = dyn_cast<NameLoc>(v.getDefiningOp()->getLoc());
    return singleOutput(loc ? loc.getName().strref() : "");
  };
  auto tensor = [&](const std::string &wanted, std::vector<int64_t> dims, std::vector<float> values) {
    onnx::TensorProto &t = routerInitializers.emplace_back();
    t.set_name(uniqueName(wanted));
    t.set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims)
      t.add_dims(d);
    t.set_raw_data(values.data(), values.size() * sizeof(float));
    return t.name();
  };
  for (Operation *op : changes->tokenRouting) {
    auto select = dyn_cast<SelectTokensOp>(op);
    if (!select)
      continue;
    auto route = select.getKeep().getDefiningOp<RouteTokensOp>();
    auto blockEnd = dyn_cast<NameLoc>(select->getLoc());
    if (!route || !blockEnd || select.getSkipped() != route.getInput())
      return error("a token select whose keep is no router of its block's input");
    auto end = nodeByName.find(blockEnd.getName().strref());
    if (end == nodeByName.end() || end->second < 0)
      return error("a token select after '" + blockEnd.getName().strref() +
                   "', which is not one node of the model's graph");
    if (replacements.count(end->second))
      return error("the token select after '" + blockEnd.getName().strref() +
                   "' follows a layer the passes rewrote");
    auto routed = valueOf(select.getRouted());
    auto skipped = valueOf(select.getSkipped());
    if (!routed)
      return routed.takeError();
    if (!skipped)
      return skipped.takeError();
    if (*routed != graph.node(end->second).output(0))
      return error("the token select after '" + blockEnd.getName().strref() +
                   "' does not read that node's output");
    ElementsAttr weightAttr;
    if (!matchPattern(route.getWeight(), m_Constant(&weightAttr)))
      return error("a token router whose weight is no constant");
    std::vector<float> weight(weightAttr.getValues<float>().begin(), weightAttr.getValues<float>().end());
    int64_t d = int64_t(weight.size());
    // keep = w . x / rms(x) + scale_weight * ln(rms(x)) >= threshold, with
    // rms(x) = sqrt(mean(x^2) + 1e-6); the mean as a product by 1/D (no
    // ReduceMean, whose axes moved from attribute to input at opset 18).
    std::vector<onnx::NodeProto> &nodes = afterNode[end->second];
    std::string base = *routed + "/router";
    auto add = [&](const std::string &type, std::vector<std::string> inputs) {
      onnx::NodeProto &n = nodes.emplace_back();
      n.set_op_type(type);
      n.set_name(uniqueName(base + "/" + type));
      for (const std::string &in : inputs)
        n.add_input(in);
      n.add_output(uniqueName(base + "/" + type + "_output"));
      return n.output(0);
    };
    std::string squares = add("Mul", {*skipped, *skipped});
    std::string mean = add("MatMul", {squares, tensor(base + "/mean", {d, 1}, std::vector<float>(d, 1.0f / d))});
    std::string rms = add("Sqrt", {add("Add", {mean, tensor(base + "/epsilon", {}, {1e-6f})})});
    std::string direction =
        add("MatMul", {add("Div", {*skipped, rms}), tensor(base + "/weight", {d, 1}, weight)});
    std::string scale = add("Mul", {add("Log", {rms}),
                                    tensor(base + "/scale_weight", {},
                                           {float(route.getScaleWeight().convertToDouble())})});
    std::string keep = add("GreaterOrEqual", {add("Add", {direction, scale}),
                                              tensor(base + "/threshold", {},
                                                     {float(route.getThreshold().convertToDouble())})});
    std::string blockOutput = uniqueName(*routed + "/routed");
    renamedOutput[end->second] = blockOutput;
    onnx::NodeProto &where = nodes.emplace_back();
    where.set_op_type("Where");
    where.set_name(uniqueName(*routed + "/select"));
    where.add_input(keep);
    where.add_input(blockOutput);
    where.add_input(*skipped);
    where.add_output(*routed);
  }
  for (const auto &entry : changes->removedNodes) {
    auto found = nodeByName.find(entry.getKey());
    if (found == nodeByName.end() || found->second < 0)
      return error("the passes removed node '" + entry.getKey() +
                   "', which is not one node of the model's graph (inside a subgraph?)");
  }

  // The new node list: replaced nodes give way to theirs, in place (their
  // inputs are produced before them).
  std::vector<bool> wasLive = liveNodes(graph);
  google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
  std::vector<int> origin; // the original node's index, or -1 for a new node
  for (int i = 0; i < graph.node_size(); ++i) {
    if (auto identity = identities.find(i); identity != identities.end()) {
      *nodes.Add() = identity->second;
      origin.push_back(-1);
      continue;
    }
    if (changes->removedNodes.contains(nodeDisplayName(graph.node(i))))
      continue;
    auto it = replacements.find(i);
    if (it == replacements.end()) {
      *nodes.Add() = graph.node(i);
      origin.push_back(i);
      if (auto renamed = renamedOutput.find(i); renamed != renamedOutput.end())
        nodes[nodes.size() - 1].set_output(0, renamed->second);
      for (onnx::NodeProto &extra : afterNode[i]) {
        *nodes.Add() = std::move(extra);
        origin.push_back(-1);
      }
      continue;
    }
    for (onnx::NodeProto &n : it->second.nodes) {
      *nodes.Add() = std::move(n);
      origin.push_back(-1);
    }
    for (onnx::TensorProto &t : it->second.initializers)
      *graph.add_initializer() = std::move(t);
  }
  for (onnx::TensorProto &t : routerInitializers)
    *graph.add_initializer() = std::move(t);
  llvm::StringSet<> readBefore;
  collectReads(graph, readBefore);
  graph.mutable_node()->Swap(&nodes);
  // Graph outputs and inputs the passes removed (a dropped block's cache).
  auto keep = [](auto *fields, const std::vector<std::string> &removed) {
    std::remove_reference_t<decltype(*fields)> kept;
    for (auto &v : *fields)
      if (!llvm::is_contained(removed, v.name()))
        *kept.Add() = std::move(v);
    fields->Swap(&kept);
  };
  keep(graph.mutable_output(), changes->removedOutputs);
  keep(graph.mutable_input(), changes->removedInputs);
  // Nodes only the replaced ones read (the DequantizeLinear of a weight, a
  // Transpose of a tied embedding) go; nodes dead in the model stay.
  std::vector<bool> isLive = liveNodes(graph);
  google::protobuf::RepeatedPtrField<onnx::NodeProto> kept;
  for (int i = 0; i < graph.node_size(); ++i)
    if (isLive[i] || origin[i] < 0 || !wasLive[origin[i]])
      *kept.Add() = std::move(*graph.mutable_node(i));
  graph.mutable_node()->Swap(&kept);
  // Initializers nothing reads any more go too (from the graph's inputs as
  // well, where older models list them).
  llvm::StringSet<> reads;
  collectReads(graph, reads);
  auto dropped = [&](const std::string &name) {
    return readBefore.contains(name) && !reads.contains(name);
  };
  google::protobuf::RepeatedPtrField<onnx::TensorProto> initializers;
  for (onnx::TensorProto &t : *graph.mutable_initializer())
    if (!dropped(t.name()))
      *initializers.Add() = std::move(t);
  graph.mutable_initializer()->Swap(&initializers);
  google::protobuf::RepeatedPtrField<onnx::ValueInfoProto> inputs;
  for (onnx::ValueInfoProto &v : *graph.mutable_input())
    if (!dropped(v.name()))
      *inputs.Add() = std::move(v);
  graph.mutable_input()->Swap(&inputs);

  if (microsoft && !llvm::any_of(proto.opset_import(), [](const onnx::OperatorSetIdProto &o) {
        return o.domain() == "com.microsoft";
      })) {
    onnx::OperatorSetIdProto *opset = proto.add_opset_import();
    opset->set_domain("com.microsoft");
    opset->set_version(1);
  }

  // Where the bytes go.
  bool hadExternal = llvm::any_of(model.proto.graph().initializer(), [](const onnx::TensorProto &t) {
    return t.data_location() == onnx::TensorProto::EXTERNAL;
  });
  uint64_t total = 0;
  for (const onnx::TensorProto &t : graph.initializer()) {
    uint64_t elements = 1;
    for (int64_t d : t.dims())
      elements *= uint64_t(std::max<int64_t>(d, 0));
    total += elements * std::max<size_t>(onnxElementSize(t.data_type()), 1);
  }
  const uint64_t protobufLimit = uint64_t(2) << 30;
  bool external = options.externalData == "always" ||
                  (options.externalData == "auto" && (hadExternal || total > protobufLimit / 4 * 3));
  if (!external && total >= protobufLimit)
    return error("the weights (" + llvm::Twine(total >> 20) +
                 " MiB) do not fit in one protobuf file: export with --external-data=always or auto");
  if (llvm::Error e = placeTensorData(model, graph, external, outputPath, outputs))
    return e;
  std::string bytes;
  if (!proto.SerializeToString(&bytes))
    return error("cannot serialize the exported model (larger than protobuf's 2 GiB?)");
  auto file = AtomicFile::create(outputPath);
  if (!file)
    return file.takeError();
  file->os() << bytes;
  return outputs.add(std::move(*file));
}

llvm::Error compress::exportOnnxFile(llvm::StringRef modelPath, ModuleOp module,
                                     const ImportedGraph &imported, llvm::StringRef outputPath,
                                     const OnnxExportOptions &options, PendingOutputs &outputs) {
  auto model = loadOnnxModel(modelPath);
  if (!model)
    return model.takeError();
  return exportOnnx(**model, module, imported, outputPath, options, outputs);
}
