// The op handlers' view of a node: operands, attributes, results and errors.
#include "lib/importer/onnx/NodeContext.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

using namespace compress;
using namespace mlir;
using llvm::SmallVector;
using llvm::StringRef;

NodeContext::NodeContext(GraphImporter &importer, const onnx::NodeProto &node,
                         int64_t opset, Location loc)
    : node(node), opset(opset), loc(loc), b(importer.builder),
      importer(importer) {}

std::string compress::nodeDisplayName(const onnx::NodeProto &node) {
  if (!node.name().empty())
    return node.name();
  return node.output_size() ? node.output(0) : node.op_type();
}

InFlightDiagnostic NodeContext::error() {
  return emitError(loc) << "node '" << nodeDisplayName(node) << "' (" << node.op_type()
                        << ", opset " << opset << "): ";
}

std::string NodeContext::siteName() const {
  return "node '" + nodeDisplayName(node) + "' (" + node.op_type() + ")";
}

bool NodeContext::hasInput(unsigned i) const {
  return i < unsigned(node.input_size()) && !node.input(i).empty();
}

Value NodeContext::input(unsigned i) {
  if (!hasInput(i)) {
    error() << "input " << i << " is required but not given";
    return Value();
  }
  FailureOr<Value> v = importer.materialize(node.input(i), loc);
  return succeeded(v) ? *v : Value();
}

// A missing input (past the node's inputs, or left out by an empty name) has
// no type: null, which handlers test with hasInput() first.
RankedTensorType NodeContext::inputType(unsigned i) {
  ImportedValue *v = hasInput(i) ? importer.lookup(node.input(i)) : nullptr;
  return v ? v->type : RankedTensorType();
}

bool NodeContext::isUnsigned(unsigned i) {
  ImportedValue *v = hasInput(i) ? importer.lookup(node.input(i)) : nullptr;
  return v && v->isUnsigned;
}

std::optional<SmallVector<int64_t>> NodeContext::constInts(unsigned i) {
  ImportedValue *v = hasInput(i) ? importer.lookup(node.input(i)) : nullptr;
  return v ? v->ints : std::nullopt;
}

FailureOr<SmallVector<int64_t>> NodeContext::requireConstInts(unsigned i,
                                                              StringRef what) {
  if (std::optional<SmallVector<int64_t>> ints = constInts(i))
    return *ints;
  error() << "input '" << what
          << "' must be a constant (computed at import), but it is "
             "computed at run time";
  return failure();
}

const onnx::TensorProto *NodeContext::constTensor(unsigned i) {
  if (!hasInput(i))
    return nullptr;
  return importer.constTensorOf(node.input(i));
}

std::optional<std::vector<char>> NodeContext::constBytes(unsigned i) {
  const onnx::TensorProto *t = constTensor(i);
  if (!t)
    return std::nullopt;
  auto bytes = readTensorBytes(importer.model, *t);
  if (!bytes) {
    error() << llvm::toString(bytes.takeError());
    return std::nullopt;
  }
  return std::move(*bytes);
}

std::optional<std::vector<double>> NodeContext::constFloats(unsigned i) {
  if (std::optional<SmallVector<int64_t>> ints = constInts(i))
    return std::vector<double>(ints->begin(), ints->end());
  if (ImportedValue *v = hasInput(i) ? importer.lookup(node.input(i)) : nullptr; v && v->floats)
    return v->floats;
  const onnx::TensorProto *t = constTensor(i);
  std::optional<std::vector<char>> bytes = constBytes(i);
  if (!t || !bytes)
    return std::nullopt;
  std::vector<double> out;
  switch (t->data_type()) {
  case onnx::TensorProto::FLOAT:
    for (size_t k = 0; k < bytes->size(); k += 4) {
      float f;
      memcpy(&f, bytes->data() + k, 4);
      out.push_back(f);
    }
    return out;
  case onnx::TensorProto::DOUBLE:
    for (size_t k = 0; k < bytes->size(); k += 8) {
      double d;
      memcpy(&d, bytes->data() + k, 8);
      out.push_back(d);
    }
    return out;
  default:
    return std::nullopt;
  }
}

const onnx::AttributeProto *NodeContext::attr(StringRef name) {
  for (const auto &a : node.attribute())
    if (a.name() == name) {
      used.insert(name);
      return &a;
    }
  return nullptr;
}

bool NodeContext::hasAttr(StringRef name) { return attr(name) != nullptr; }

int64_t NodeContext::intAttr(StringRef name, int64_t dflt) {
  const onnx::AttributeProto *a = attr(name);
  return a ? a->i() : dflt;
}

float NodeContext::floatAttr(StringRef name, float dflt) {
  const onnx::AttributeProto *a = attr(name);
  return a ? a->f() : dflt;
}

std::string NodeContext::stringAttr(StringRef name, StringRef dflt) {
  const onnx::AttributeProto *a = attr(name);
  return a ? a->s() : dflt.str();
}

std::optional<SmallVector<int64_t>> NodeContext::intsAttr(StringRef name) {
  const onnx::AttributeProto *a = attr(name);
  if (!a)
    return std::nullopt;
  return SmallVector<int64_t>(a->ints().begin(), a->ints().end());
}

const onnx::TensorProto *NodeContext::tensorAttr(StringRef name) {
  const onnx::AttributeProto *a = attr(name);
  return a && a->has_t() ? &a->t() : nullptr;
}

const onnx::GraphProto *NodeContext::graphAttr(StringRef name) {
  const onnx::AttributeProto *a = attr(name);
  return a && a->has_g() ? &a->g() : nullptr;
}

bool NodeContext::hasOutput(unsigned i) const {
  return i < unsigned(node.output_size()) && !node.output(i).empty();
}

void NodeContext::setOutput(unsigned i, Value v, bool isUnsigned) {
  if (!hasOutput(i))
    return;
  ImportedValue &out = importer.values[node.output(i)];
  out = ImportedValue();
  out.value = v;
  out.type = cast<RankedTensorType>(v.getType());
  out.isUnsigned = isUnsigned;
}

void NodeContext::setOutputInts(unsigned i, llvm::ArrayRef<int64_t> ints,
                                llvm::ArrayRef<int64_t> shape, Type elemType,
                                bool isUnsigned) {
  if (!hasOutput(i))
    return;
  ImportedValue &out = importer.values[node.output(i)];
  out = ImportedValue();
  out.ints = SmallVector<int64_t>(ints);
  out.type = RankedTensorType::get(shape, elemType);
  out.isUnsigned = isUnsigned;
}

LogicalResult NodeContext::setOutputTensor(unsigned i, const onnx::TensorProto &tensor) {
  if (!hasOutput(i))
    return success();
  if (llvm::Error e = importer.registerConstant(node.output(i), tensor))
    return error() << llvm::toString(std::move(e));
  return success();
}
