// Imports an ONNX graph into func.func @main, node by node through the op table.
#include "lib/importer/onnx/Importer.h"
#include "lib/importer/onnx/Builders.h"
#include "lib/importer/onnx/NodeContext.h"
#include "lib/importer/onnx/QuantizeOps.h"

#include "dialects/compress/IR/CompressDialect.h"
#include "dialects/compress/IR/WeightStore.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Verifier.h"

using namespace compress;
using namespace mlir;
using llvm::SmallVector;
using llvm::StringRef;

// Integer constants up to this many elements keep their contents for folding.
// Constants up to this many bytes are inline `dense<>`; larger ones are
// `dense_resource` blobs, which passes do not copy.
static constexpr size_t kMaxInlineBytes = 256;

void compress::registerOnnxImportDialects(DialectRegistry &registry) {
  registry.insert<compress::CompressDialect, func::FuncDialect,
                  arith::ArithDialect, math::MathDialect, tensor::TensorDialect,
                  linalg::LinalgDialect, affine::AffineDialect, scf::SCFDialect>();
}

LogicalResult compress::parseInputShape(StringRef spec, OnnxImportOptions &options) {
  auto [name, dims] = spec.rsplit('=');
  if (name.empty() || dims.empty() || !spec.contains('='))
    return failure();
  SmallVector<int64_t> shape;
  SmallVector<StringRef> parts;
  dims.split(parts, 'x');
  for (StringRef p : parts) {
    int64_t d;
    if (p == "?")
      d = -1;
    else if (p.getAsInteger(10, d) || d < 0)
      return failure();
    shape.push_back(d);
  }
  options.inputShapes[name] = shape;
  return success();
}

Type compress::onnxElementType(MLIRContext *ctx, int32_t dataType) {
  switch (dataType) {
  case onnx::TensorProto::FLOAT:
    return Float32Type::get(ctx);
  case onnx::TensorProto::DOUBLE:
    return Float64Type::get(ctx);
  case onnx::TensorProto::FLOAT16:
    return Float16Type::get(ctx);
  case onnx::TensorProto::BFLOAT16:
    return BFloat16Type::get(ctx);
  case onnx::TensorProto::BOOL:
    return IntegerType::get(ctx, 1);
  case onnx::TensorProto::INT8:
  case onnx::TensorProto::UINT8:
    return IntegerType::get(ctx, 8);
  case onnx::TensorProto::INT16:
  case onnx::TensorProto::UINT16:
    return IntegerType::get(ctx, 16);
  case onnx::TensorProto::INT32:
  case onnx::TensorProto::UINT32:
    return IntegerType::get(ctx, 32);
  case onnx::TensorProto::INT64:
  case onnx::TensorProto::UINT64:
    return IntegerType::get(ctx, 64);
  default:
    return Type();
  }
}

llvm::Error GraphImporter::registerConstant(StringRef name,
                                            const onnx::TensorProto &tensor) {
  MLIRContext *ctx = builder.getContext();
  Type elemType = onnxElementType(ctx, tensor.data_type());
  if (!elemType)
    return llvm::createStringError("constant '" + name + "' has unsupported type " +
                                   onnxTypeName(tensor.data_type()));
  ImportedValue v;
  v.initializer = &tensor;
  v.type = RankedTensorType::get(
      SmallVector<int64_t>(tensor.dims().begin(), tensor.dims().end()),
      elemType);
  v.isUnsigned = isUnsignedOnnxType(tensor.data_type());
  if (isa<IntegerType>(elemType) && v.type.getNumElements() <= kMaxFoldedInts) {
    auto bytes = readTensorBytes(model, tensor);
    if (!bytes)
      return bytes.takeError();
    unsigned width = elemType.getIntOrFloatBitWidth();
    size_t size = width == 1 ? 1 : width / 8;
    SmallVector<int64_t> ints;
    for (size_t k = 0; k < bytes->size(); k += size) {
      int64_t x = 0;
      const char *p = bytes->data() + k;
      switch (size) {
      case 1:
        x = v.isUnsigned || width == 1 ? int64_t(uint8_t(*p)) : int64_t(int8_t(*p));
        break;
      case 2: {
        int16_t s;
        memcpy(&s, p, 2);
        x = v.isUnsigned ? int64_t(uint16_t(s)) : int64_t(s);
        break;
      }
      case 4: {
        int32_t s;
        memcpy(&s, p, 4);
        x = v.isUnsigned ? int64_t(uint32_t(s)) : int64_t(s);
        break;
      }
      default:
        memcpy(&x, p, 8);
      }
      ints.push_back(x);
    }
    v.ints = std::move(ints);
  }
  values[name] = std::move(v);
  return llvm::Error::success();
}

/// The blob name of a constant key: characters outside [A-Za-z0-9_.] become
/// '_' (the resource manager makes equal names unique).
static std::string blobName(StringRef key) {
  std::string name = key.str();
  for (char &c : name)
    if (!isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.')
      c = '_';
  return name;
}

static size_t elementAlignment(RankedTensorType type) {
  return std::max<size_t>(type.getElementType().getIntOrFloatBitWidth() / 8, 1);
}

ImportedValue *GraphImporter::lookup(StringRef name) {
  auto it = values.find(name);
  if (it != values.end())
    return &it->second;
  return parent ? parent->lookup(name) : nullptr;
}

Value GraphImporter::createConstant(StringRef key, RankedTensorType type,
                                    llvm::ArrayRef<char> bytes, Location loc) {
  // A subgraph's constants go to the outermost function, like the others.
  if (parent) {
    OpBuilder::InsertionGuard guard(builder);
    builder.restoreInsertionPoint(parentPoint);
    return parent->createConstant(keyPrefix + key.str(), type, bytes, loc);
  }
  if (Value cached = constantsByKey.lookup(key))
    if (cached.getType() == type)
      return cached;
  TypedAttr attr;
  if (type.getElementType().isInteger(1)) {
    SmallVector<bool> bits;
    for (char c : bytes)
      bits.push_back(c != 0);
    attr = DenseElementsAttr::get(type, llvm::ArrayRef<bool>(bits));
  } else if (bytes.size() <= kMaxInlineBytes) {
    attr = DenseElementsAttr::getFromRawBuffer(type, bytes);
  } else {
    attr = DenseResourceElementsAttr::get(
        type, blobName(key),
        makeWeightBlob(builder.getContext(), bytes, elementAlignment(type)));
  }
  return createConstant(key, attr, loc);
}

Value GraphImporter::createConstant(StringRef key, TypedAttr attr, Location loc) {
  OpBuilder::InsertionGuard guard(builder);
  if (parent) {
    builder.restoreInsertionPoint(parentPoint);
    return parent->createConstant(keyPrefix + key.str(), attr, loc);
  }
  // Constants go to the top of the function so that every node sees them.
  Block *body = builder.getInsertionBlock();
  builder.setInsertionPointToStart(body);
  Value c = arith::ConstantOp::create(builder, loc, attr);
  // Only the cache needs the exact key: blob names are made unique by the
  // resource manager when two keys sanitise to the same name.
  constantsByKey[key] = c;
  return c;
}

llvm::Expected<llvm::ArrayRef<char>> GraphImporter::weightBytes(const onnx::TensorProto &tensor,
                                                                std::vector<char> &storage) {
  if (WeightStore *store = getWeightStore(builder.getContext())) {
    auto view = mapTensorBytes(model, tensor);
    if (!view)
      return view.takeError();
    if (*view) {
      store->adoptMapping((*view)->file, (*view)->mapping);
      return (*view)->bytes;
    }
  }
  auto read = readTensorBytes(model, tensor);
  if (!read)
    return read.takeError();
  storage = std::move(*read);
  return llvm::ArrayRef<char>(storage);
}

const onnx::TensorProto *GraphImporter::constTensorOf(StringRef name) {
  auto it = values.find(name);
  if (it == values.end())
    return parent ? parent->constTensorOf(name) : nullptr;
  ImportedValue &v = it->second;
  if (!v.initializer && !v.value && v.dequantized) {
    derivedTensors.push_back(dequantizedTensor(*v.dequantized));
    v.initializer = &derivedTensors.back();
  }
  return v.initializer;
}

FailureOr<Value> GraphImporter::materialize(StringRef name, Location loc) {
  auto it = values.find(name);
  if (it == values.end() && parent) {
    // An outer scope's value is made there, before the control-flow op.
    OpBuilder::InsertionGuard guard(builder);
    builder.restoreInsertionPoint(parentPoint);
    return parent->materialize(name, loc);
  }
  if (it == values.end())
    return emitError(loc) << "value '" << name << "' is not defined";
  ImportedValue &v = it->second;
  if (v.value)
    return v.value;
  constTensorOf(name);
  std::vector<char> bytes;
  if (v.ints && !v.initializer) {
    // A folded integer result: write it back in its element width.
    unsigned width = v.type.getElementType().getIntOrFloatBitWidth();
    size_t size = width == 1 ? 1 : width / 8;
    bytes.resize(v.ints->size() * size);
    for (size_t k = 0; k < v.ints->size(); ++k)
      memcpy(bytes.data() + k * size, &(*v.ints)[k], size); // little-endian
    v.value = createConstant(name, v.type, bytes, loc);
    return v.value;
  }
  llvm::Expected<llvm::ArrayRef<char>> data = weightBytes(*v.initializer, bytes);
  if (!data)
    return emitError(loc) << llvm::toString(data.takeError());
  // A mapped view large enough for a blob becomes one as it is, aligned for
  // its elements (the file's offsets usually are). Anything else is copied.
  bool isMapped = data->data() != bytes.data();
  if (isMapped && data->size() > kMaxInlineBytes && !v.type.getElementType().isInteger(1) &&
      uintptr_t(data->data()) % elementAlignment(v.type) == 0 && !constantsByKey.lookup(name)) {
    AsmResourceBlob blob =
        getWeightStore(builder.getContext())->viewBlob(*data, elementAlignment(v.type));
    v.value = createConstant(
        name, DenseResourceElementsAttr::get(v.type, blobName(name), std::move(blob)), loc);
  } else {
    v.value = createConstant(name, v.type, *data, loc);
  }
  // The NaN check read every page: they come back from the file when used.
  releaseWeightPages(builder.getContext(), *data);
  return v.value;
}

/// Which inputs a version of an ONNX op requires (from the onnx package's
/// schemas, gen_input_arity.py).
struct InputArity {
  const char *op;
  int64_t since;
  /// One letter per formal input: r required, o optional, v variadic.
  const char *pattern;
  int minInputs, maxInputs;
};
constexpr InputArity kInputArities[] = {
#include "lib/importer/onnx/InputArity.inc"
};

/// The arity of `op` at `opset` (its latest version at or before it), or
/// null for an op the schemas lack.
static const InputArity *inputArity(StringRef op, int64_t opset) {
  const InputArity *found = nullptr;
  for (const InputArity &a : kInputArities)
    if (op == a.op && a.since <= opset && (!found || a.since > found->since))
      found = &a;
  return found;
}

/// The bytes of `type`'s static dimensions (a dynamic one counts as 1), as a
/// double: dimensions read from a file may overflow any integer product.
static double staticBytes(RankedTensorType type) {
  double bytes = std::max(1u, type.getElementTypeBitWidth() / 8);
  for (int64_t d : type.getShape())
    if (!ShapedType::isDynamic(d))
      bytes *= double(d);
  return bytes;
}

/// A tensor larger than a process can address (x86-64 user space, 128 TiB)
/// is a malformed or hostile file, not a big model: refused where it appears.
static bool fitsInMemory(RankedTensorType type) { return staticBytes(type) <= double(int64_t(1) << 47); }

LogicalResult GraphImporter::importNode(const onnx::NodeProto &node) {
  MLIRContext *ctx = builder.getContext();
  std::string name = nodeDisplayName(node);
  Location loc = NameLoc::get(StringAttr::get(ctx, name),
                              FileLineColLoc::get(ctx, model.path, 0, 0));
  int64_t opset = model.opsetFor(node.domain());
  auto fail = [&]() {
    return emitError(loc) << "node '" << name << "' (" << node.op_type()
                          << ", opset " << opset << "): ";
  };
  // Ops of other domains are in the table as "domain::Op".
  bool onnxDomain = node.domain().empty() || node.domain() == "ai.onnx";
  std::string opName = onnxDomain ? node.op_type() : node.domain() + "::" + node.op_type();
  std::string prefix = node.domain() + "::";
  bool knownDomain = llvm::any_of(
      opTable(), [&](const OpTableEntry &e) { return StringRef(e.opType).starts_with(prefix); });
  if (!onnxDomain && !knownDomain)
    return fail() << "unsupported op domain '" << node.domain() << "'";
  if (opset < 0)
    return fail() << "the model imports no opset for its domain";
  const OpTableEntry *match = nullptr;
  int64_t minSeen = INT64_MAX, maxSeen = -1;
  for (const OpTableEntry &e : opTable()) {
    if (opName != e.opType)
      continue;
    minSeen = std::min(minSeen, e.minOpset);
    maxSeen = std::max(maxSeen, e.maxOpset);
    if (e.minOpset <= opset && opset <= e.maxOpset)
      match = &e;
  }
  if (!match) {
    if (maxSeen < 0)
      return fail() << "unsupported op '" << opName << "'";
    return fail() << "unsupported opset " << opset << " of op '"
                  << node.op_type() << "' (supported: " << minSeen << " to "
                  << maxSeen << ")";
  }
  NodeContext context(*this, node, opset, loc);
  // Handlers read the inputs their op requires without asking: the node
  // must have them (an empty name leaves an optional input out).
  if (const InputArity *arity = onnxDomain ? inputArity(node.op_type(), opset) : nullptr) {
    int given = node.input_size();
    auto inputs = [](int n) { return std::to_string(n) + (n == 1 ? " input" : " inputs"); };
    if (given < arity->minInputs)
      return fail() << "needs at least " << inputs(arity->minInputs) << ", has " << given;
    if (arity->maxInputs >= 0 && given > arity->maxInputs)
      return fail() << "takes at most " << inputs(arity->maxInputs) << ", has " << given;
    for (int i = 0; i < given && arity->pattern[i]; ++i)
      if (arity->pattern[i] == 'r' && node.input(i).empty())
        return fail() << "input " << i << " is required but not given";
  }
  for (unsigned i = 0; i < context.numInputs(); ++i)
    if (context.hasInput(i) && !lookup(node.input(i)))
      return fail() << "input '" << node.input(i) << "' is not defined";
  // A handler may report an error and still return (an input it needed was
  // missing): the node fails all the same.
  bool errorSeen = false;
  ScopedDiagnosticHandler seen(ctx, [&](Diagnostic &diagnostic) {
    errorSeen |= diagnostic.getSeverity() == DiagnosticSeverity::Error;
    return failure(); // and on to the tool's handler
  });
  if (failed(match->handler(context)) || errorSeen)
    return failure();
  for (const auto &a : node.attribute())
    if (!context.usedAttrs().contains(a.name()))
      return fail() << "unsupported attribute '" << a.name() << "'";
  for (unsigned i = 0; i < context.numOutputs(); ++i) {
    if (!context.hasOutput(i))
      continue;
    auto it = values.find(node.output(i));
    if (it == values.end())
      return fail() << "unsupported output " << i << " ('" << node.output(i)
                    << "')";
    if (!fitsInMemory(it->second.type))
      return fail() << "output '" << node.output(i) << "' of type " << it->second.type
                    << " would take " << staticBytes(it->second.type)
                    << " bytes, more than a process can address";
  }
  return success();
}

llvm::SmallVector<SupportedOnnxOp> compress::supportedOnnxOps() {
  llvm::StringMap<SupportedOnnxOp> merged;
  for (const OpTableEntry &e : opTable()) {
    auto [it, inserted] =
        merged.try_emplace(e.opType, SupportedOnnxOp{e.opType, e.minOpset, e.maxOpset});
    if (!inserted) {
      it->second.minOpset = std::min(it->second.minOpset, e.minOpset);
      it->second.maxOpset = std::max(it->second.maxOpset, e.maxOpset);
    }
  }
  SmallVector<SupportedOnnxOp> out;
  for (auto &kv : merged)
    out.push_back(kv.second);
  llvm::sort(out, [](const SupportedOnnxOp &a, const SupportedOnnxOp &b) {
    return a.opType < b.opType;
  });
  return out;
}

// Shape of a graph input from its type, with overrides; dynamic where unknown.
static FailureOr<RankedTensorType>
graphInputType(MLIRContext *ctx, const onnx::ValueInfoProto &info,
               const OnnxImportOptions &options, Location loc) {
  if (!info.type().has_tensor_type())
    return emitError(loc) << "graph input '" << info.name()
                          << "' is not a tensor (sequences and maps are "
                             "unsupported)";
  const auto &tt = info.type().tensor_type();
  Type elemType = onnxElementType(ctx, tt.elem_type());
  if (!elemType)
    return emitError(loc) << "graph input '" << info.name()
                          << "' has unsupported type "
                          << onnxTypeName(tt.elem_type());
  SmallVector<int64_t> shape;
  auto override = options.inputShapes.find(info.name());
  if (override != options.inputShapes.end()) {
    if (tt.has_shape() && tt.shape().dim_size() != int(override->second.size()))
      return emitError(loc) << "shape given for input '" << info.name()
                            << "' has rank " << override->second.size()
                            << ", the model's has rank " << tt.shape().dim_size();
    for (int64_t d : override->second)
      shape.push_back(d < 0 ? ShapedType::kDynamic : d);
  } else {
    if (!tt.has_shape())
      return emitError(loc) << "graph input '" << info.name()
                            << "' has no rank: give its shape";
    for (const auto &d : tt.shape().dim()) {
      if (d.has_dim_value() && d.dim_value() < 0)
        return emitError(loc) << "graph input '" << info.name() << "' has dimension "
                              << shape.size() << " of size " << d.dim_value();
      shape.push_back(d.has_dim_value() ? d.dim_value() : ShapedType::kDynamic);
    }
  }
  auto type = RankedTensorType::get(shape, elemType);
  if (!fitsInMemory(type))
    return emitError(loc) << "graph input '" << info.name() << "' of type " << type
                          << " would take " << staticBytes(type)
                          << " bytes, more than a process can address";
  return type;
}

OwningOpRef<ModuleOp> compress::importOnnxFile(MLIRContext &context,
                                               StringRef path,
                                               const OnnxImportOptions &options) {
  DialectRegistry registry;
  registerOnnxImportDialects(registry);
  context.appendDialectRegistry(registry);
  context.loadAllAvailableDialects();
  Location fileLoc = FileLineColLoc::get(&context, path, 0, 0);

  auto loaded = loadOnnxModel(path);
  if (!loaded) {
    emitError(fileLoc) << llvm::toString(loaded.takeError());
    return nullptr;
  }
  const OnnxModel &model = **loaded;
  const onnx::GraphProto &graph = model.proto.graph();

  OpBuilder builder(&context);
  OwningOpRef<ModuleOp> module = ModuleOp::create(fileLoc);
  builder.setInsertionPointToEnd(module->getBody());

  llvm::StringSet<> initializerNames;
  for (const auto &init : graph.initializer())
    initializerNames.insert(init.name());
  SmallVector<Type> argTypes;
  SmallVector<const onnx::ValueInfoProto *> args;
  for (const auto &input : graph.input()) {
    if (initializerNames.contains(input.name()))
      continue; // older exporters list initializers as inputs too
    FailureOr<RankedTensorType> type =
        graphInputType(&context, input, options, fileLoc);
    if (failed(type))
      return nullptr;
    argTypes.push_back(*type);
    args.push_back(&input);
  }
  for (const auto &kv : options.inputShapes)
    if (llvm::none_of(args, [&](auto *a) { return a->name() == kv.getKey(); })) {
      emitError(fileLoc) << "'" << kv.getKey()
                         << "' is given but is not an input of the model";
      return nullptr;
    }

  auto func = func::FuncOp::create(builder, fileLoc, "main",
                                   builder.getFunctionType(argTypes, {}));
  Block *body = func.addEntryBlock();
  builder.setInsertionPointToEnd(body);
  GraphImporter importer(builder, model);
  for (auto [i, info] : llvm::enumerate(args)) {
    ImportedValue v;
    v.value = body->getArgument(i);
    v.type = cast<RankedTensorType>(argTypes[i]);
    v.isUnsigned = isUnsignedOnnxType(info->type().tensor_type().elem_type());
    auto known = options.inputValues.find(info->name());
    if (known != options.inputValues.end() && v.type.hasStaticShape() &&
        isa<IntegerType>(v.type.getElementType()) &&
        int64_t(known->second.size()) == v.type.getNumElements())
      v.ints = known->second;
    auto knownFloats = options.inputFloatValues.find(info->name());
    if (knownFloats != options.inputFloatValues.end() && v.type.hasStaticShape() &&
        isa<FloatType>(v.type.getElementType()) &&
        int64_t(knownFloats->second.size()) == v.type.getNumElements())
      v.floats = knownFloats->second;
    importer.values[info->name()] = v;
    func.setArgAttr(i, kNameAttr, builder.getStringAttr(info->name()));
    // Symbolic sizes the model leaves open: names that bind inputs together.
    SmallVector<Attribute> dimNames;
    bool named = false;
    const auto &dims = info->type().tensor_type().shape().dim();
    for (int64_t d = 0; d < v.type.getRank(); ++d) {
      std::string param = v.type.isDynamicDim(d) && d < dims.size() ? dims[d].dim_param() : "";
      named |= !param.empty();
      dimNames.push_back(builder.getStringAttr(param));
    }
    if (named)
      func.setArgAttr(i, kDimNamesAttr, builder.getArrayAttr(dimNames));
    if (v.isUnsigned)
      func.setArgAttr(i, kUnsignedAttr, builder.getUnitAttr());
  }
  for (const auto &init : graph.initializer())
    if (llvm::Error e = importer.registerConstant(init.name(), init)) {
      // Named by the first node that reads it (an INT4 weight of a DequantizeLinear).
      const onnx::NodeProto *user = nullptr;
      for (const auto &node : graph.node())
        if (!user && llvm::is_contained(node.input(), init.name()))
          user = &node;
      if (user)
        emitError(fileLoc) << "node '" << nodeDisplayName(*user) << "' (" << user->op_type()
                           << ", opset " << model.opsetFor(user->domain())
                           << "): " << llvm::toString(std::move(e));
      else
        emitError(fileLoc) << llvm::toString(std::move(e));
      return nullptr;
    }
  for (const auto &node : graph.node())
    if (failed(importer.importNode(node)))
      return nullptr;

  SmallVector<Value> results;
  for (const auto &out : graph.output()) {
    FailureOr<Value> v = importer.materialize(out.name(), fileLoc);
    if (failed(v))
      return nullptr;
    results.push_back(*v);
  }
  func::ReturnOp::create(builder, fileLoc, results);
  func.setFunctionType(builder.getFunctionType(argTypes, ValueRange(results).getTypes()));
  for (auto [i, out] : llvm::enumerate(graph.output())) {
    func.setResultAttr(i, kNameAttr, builder.getStringAttr(out.name()));
    if (importer.values[out.name()].isUnsigned)
      func.setResultAttr(i, kUnsignedAttr, builder.getUnitAttr());
  }
  if (failed(verify(*module))) {
    emitError(fileLoc) << "internal error: the imported module does not verify";
    return nullptr;
  }
  return module;
}
