// JIT compilation and invocation of the entry function through its C interface.
#include "lib/engine/CpuEngine.h"

#include "lib/importer/onnx/Importer.h"
#include "lib/runtime/cpu/Allocator.h"
#include "lib/runtime/cpu/RunChecks.h"
#include "lib/target/Target.h"
#include "passes/cpu/IndexChecks.h"
#include "passes/conversion/Passes.h"
#include "passes/gpu/Pipelines.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/OpenMP/OpenMPToLLVMIRTranslation.h"

#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Support/TargetSelect.h"

#include "llvm/ADT/ScopeExit.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Process.h"

#include <omp.h>

#include <cstdlib>
#include <cstring>

using namespace compress;
using namespace mlir;

static llvm::Error engineError(const llvm::Twine &what) {
  return llvm::createStringError(what);
}

static std::optional<ElementKind> kindOf(Type t, bool isUnsigned) {
  if (t.isF32())
    return ElementKind::F32;
  if (t.isF64())
    return ElementKind::F64;
  if (t.isF16())
    return ElementKind::F16;
  if (t.isInteger(1))
    return ElementKind::Bool;
  if (t.isInteger(8))
    return isUnsigned ? ElementKind::U8 : ElementKind::I8;
  if (t.isInteger(16))
    return isUnsigned ? ElementKind::U16 : ElementKind::I16;
  if (t.isInteger(32))
    return isUnsigned ? ElementKind::U32 : ElementKind::I32;
  if (t.isInteger(64))
    return isUnsigned ? ElementKind::U64 : ElementKind::I64;
  return std::nullopt;
}

static llvm::Expected<TensorSignature> signatureOf(Type type, DictionaryAttr attrs,
                                                   const std::string &fallback) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor)
    return engineError("entry function takes a non-ranked-tensor value " +
                       fallback);
  bool isUnsigned = attrs && attrs.get(kUnsignedAttr);
  std::optional<ElementKind> kind = kindOf(tensor.getElementType(), isUnsigned);
  TensorSignature sig;
  auto name = attrs ? attrs.getAs<StringAttr>(kNameAttr) : StringAttr();
  sig.name = name ? name.str() : fallback;
  if (!kind) {
    std::string s;
    llvm::raw_string_ostream os(s);
    os << tensor.getElementType();
    return engineError("'" + sig.name + "' has unsupported element type " + s);
  }
  sig.kind = *kind;
  for (int64_t d : tensor.getShape())
    sig.shape.push_back(ShapedType::isDynamic(d) ? -1 : d);
  if (auto names = attrs ? attrs.getAs<ArrayAttr>(kDimNamesAttr) : ArrayAttr())
    for (Attribute name : names)
      sig.dimNames.push_back(cast<StringAttr>(name).str());
  return sig;
}

llvm::Expected<EntrySignature> compress::readEntrySignature(ModuleOp module) {
  auto main = module.lookupSymbol<func::FuncOp>("main");
  if (!main)
    return engineError("the module has no func.func @main");
  EntrySignature signature;
  FunctionType type = main.getFunctionType();
  for (unsigned i = 0; i < type.getNumInputs(); ++i) {
    auto sig = signatureOf(type.getInput(i), main.getArgAttrDict(i),
                           "input" + std::to_string(i));
    if (!sig)
      return sig.takeError();
    signature.inputs.push_back(*sig);
  }
  for (unsigned i = 0; i < type.getNumResults(); ++i) {
    auto sig = signatureOf(type.getResult(i), main.getResultAttrDict(i),
                           "output" + std::to_string(i));
    if (!sig)
      return sig.takeError();
    signature.outputs.push_back(*sig);
  }
  return signature;
}

static void ensureInitialized() {
  static bool done = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    return true;
  }();
  (void)done;
}

// A file name for a module's weights, removed again once they are mapped.
static llvm::Expected<std::string> temporaryWeightsFile() {
  llvm::SmallString<128> path;
  int fd;
  if (std::error_code ec = llvm::sys::fs::createTemporaryFile("compress-jit", "weights", fd, path))
    return engineError("cannot create a temporary weights file: " + ec.message());
  llvm::sys::Process::SafelyCloseFileDescriptor(fd);
  return std::string(path);
}

llvm::Expected<std::unique_ptr<CpuEngine>>
CpuEngine::compile(ModuleOp module, const EngineOptions &engineOptions) {
  ensureInitialized();
  if (engineOptions.numThreads > 0)
    omp_set_num_threads(engineOptions.numThreads);
  auto signature = readEntrySignature(module);
  if (!signature)
    return signature.takeError();
  std::unique_ptr<CpuEngine> self(new CpuEngine());
  self->inputSigs = signature->inputs;
  self->outputSigs = signature->outputs;

  MLIRContext *ctx = module.getContext();
  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  registerOpenMPDialectTranslation(registry);
  registerCudaCodegenInterfaces(registry);
  ctx->appendDialectRegistry(registry);
  ctx->loadAllAvailableDialects();

  // Collect lowering diagnostics into the error rather than printing them.
  std::string diagnostics;
  ScopedDiagnosticHandler handler(ctx, [&](Diagnostic &d) {
    if (d.getSeverity() == DiagnosticSeverity::Error)
      diagnostics += (diagnostics.empty() ? "" : "; ") + d.str();
    return success();
  });
  auto target = lookupTarget(engineOptions.target);
  if (!target)
    return target.takeError();
  if (!target->runsInProcess())
    return engineError("target '" + target->getName() + "' does not run in this process");
  self->target = &*target;
  PassManager pm(ctx);
  LoweringOptions lowering;
  lowering.precision = engineOptions.precision;
  if (engineOptions.externalWeights) {
    auto path = temporaryWeightsFile();
    if (!path)
      return path.takeError();
    lowering.weightsFile = *path;
  }
  llvm::scope_exit removeWeightsFile([&] {
    if (!lowering.weightsFile.empty())
      llvm::sys::fs::remove(lowering.weightsFile);
  });
  if (failed(target->buildLoweringPipeline(pm, lowering)))
    return engineError("internal error: invalid lowering pipeline of target '" +
                       target->getName() + "'");
  if (failed(pm.run(module)))
    return engineError("lowering to LLVM failed: " + diagnostics);
  if (engineOptions.externalWeights) {
    // Mapped, then unlinked: the mapping outlives the file's name.
    auto mapped = llvm::MemoryBuffer::getFile(lowering.weightsFile, /*IsText=*/false,
                                              /*RequiresNullTerminator=*/false,
                                              /*IsVolatile=*/false, llvm::Align(64));
    if (!mapped)
      return engineError("cannot read the weights back: " + mapped.getError().message());
    self->weights = std::move(*mapped);
  }
  self->device = target->getDeviceMemory();
  if (self->device && self->weights) {
    // Uploaded once: every run reads the same device copy.
    auto uploaded = self->device->upload(self->weights->getBufferStart(),
                                         self->weights->getBufferSize());
    if (!uploaded)
      return uploaded.takeError();
    self->deviceWeights = *uploaded;
  }
  self->indexSites = indexSitesOf(module);

  // Optimise for this CPU: without a target machine LLVM does not vectorise.
  auto hostBuilder = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!hostBuilder)
    return hostBuilder.takeError();
  auto host = hostBuilder->createTargetMachine();
  if (!host)
    return host.takeError();
  ExecutionEngineOptions options;
  options.transformer = makeOptimizingTransformer(engineOptions.optLevel, 0, host->get());
  auto engine = ExecutionEngine::create(module, options);
  if (!engine)
    return engineError("JIT compilation failed: " +
                       llvm::toString(engine.takeError()));
  self->engine = std::move(*engine);
  llvm::StringMap<void *> runtime;
  target->addRuntimeSymbols(runtime);
  self->engine->registerSymbols([&](llvm::orc::MangleAndInterner interner) {
    llvm::orc::SymbolMap symbols;
    for (const auto &entry : runtime)
      symbols[interner(entry.getKey())] = {llvm::orc::ExecutorAddr::fromPtr(entry.getValue()),
                                           llvm::JITSymbolFlags::Exported};
    return symbols;
  });
  // Global constructors (a GPU target's kernel modules) run once the
  // runtime symbols are bound.
  self->engine->initialize();
  return self;
}

CpuEngine::~CpuEngine() {
  if (device && deviceWeights)
    device->release(deviceWeights);
  if (target)
    target->forgetEngineState();
}

// A ranked memref descriptor as the C interface lays it out:
// {allocated, aligned, offset, sizes[rank], strides[rank]}, all 8-byte words.
static void fillDescriptor(int64_t *words, void *data,
                           const std::vector<int64_t> &shape) {
  size_t rank = shape.size();
  words[0] = reinterpret_cast<int64_t>(data);
  words[1] = reinterpret_cast<int64_t>(data);
  words[2] = 0;
  int64_t stride = 1;
  for (size_t i = rank; i-- > 0;) {
    words[3 + i] = shape[i];
    words[3 + rank + i] = stride;
    stride *= shape[i];
  }
}

llvm::Expected<std::vector<HostTensor>>
CpuEngine::run(llvm::ArrayRef<HostTensor> inputs) {
  if (inputs.size() != inputSigs.size())
    return engineError("the model takes " + llvm::Twine(inputSigs.size()) +
                       " inputs, got " + llvm::Twine(inputs.size()));
  std::vector<std::vector<int64_t>> inputDescs(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorSignature &sig = inputSigs[i];
    const HostTensor &t = inputs[i];
    if (t.kind != sig.kind)
      return engineError("input '" + sig.name + "' must be " +
                         elementName(sig.kind) + ", got " + elementName(t.kind));
    bool shapeOk = t.shape.size() == sig.shape.size();
    for (size_t d = 0; shapeOk && d < t.shape.size(); ++d)
      shapeOk = sig.shape[d] < 0 || sig.shape[d] == t.shape[d];
    if (!shapeOk)
      return engineError("input '" + sig.name + "' must have shape " + sig.shapeString() +
                         ", got " + t.shapeString());
    inputDescs[i].resize(3 + 2 * t.shape.size());
    fillDescriptor(inputDescs[i].data(),
                   const_cast<uint8_t *>(t.data.data()), t.shape);
  }
  // A device target reads copies of the inputs in its memory.
  std::vector<void *> deviceInputs;
  llvm::scope_exit releaseInputs([&] {
    for (void *p : deviceInputs)
      device->release(p);
  });
  if (device)
    for (size_t i = 0; i < inputs.size(); ++i) {
      auto uploaded = device->upload(inputs[i].data.data(), inputs[i].data.size());
      if (!uploaded)
        return uploaded.takeError();
      deviceInputs.push_back(*uploaded);
      fillDescriptor(inputDescs[i].data(), *uploaded, inputs[i].shape);
    }
  std::vector<BoundInput> bound;
  for (size_t i = 0; i < inputs.size(); ++i)
    bound.push_back({inputSigs[i].name.c_str(), inputs[i].shape.data(),
                     int(inputs[i].shape.size()), &inputSigs[i].dimNames});
  std::string mismatch = checkSymbolicDims(bound);
  if (!mismatch.empty())
    return engineError(mismatch);
  // Results come back as one struct of descriptors (or one descriptor).
  size_t resultWords = 0;
  for (const TensorSignature &sig : outputSigs)
    resultWords += 3 + 2 * sig.shape.size();
  std::vector<int64_t> resultStruct(std::max<size_t>(resultWords, 1));

  std::vector<void *> pointers;
  pointers.push_back(resultStruct.data());
  // The weights buffer comes first: memref<?xi8>.
  std::vector<int64_t> weightsDesc;
  if (weights) {
    weightsDesc.resize(5);
    fillDescriptor(weightsDesc.data(),
                   device ? deviceWeights : const_cast<char *>(weights->getBufferStart()),
                   {int64_t(weights->getBufferSize())});
    pointers.push_back(weightsDesc.data());
  }
  for (auto &d : inputDescs)
    pointers.push_back(d.data());
  std::vector<void *> args;
  for (void *&p : pointers)
    args.push_back(&p);
  if (outputSigs.empty())
    args.erase(args.begin());
  std::optional<IndexError> indexError;
  {
    RunLock lock;
    takeIndexError(); // none may be left over from a failed call
    auto main = engine->lookupPacked("_mlir_ciface_main");
    if (!main)
      return main.takeError();
    struct Call {
      void (*main)(void **);
      void **args;
    } call{*main, args.data()};
    size_t failed = runCatchingOutOfMemory(
        [](void *context) {
          auto *call = static_cast<Call *>(context);
          call->main(call->args);
        },
        &call);
    if (failed)
      return engineError("out of memory: the model asked for a buffer of " + llvm::Twine(failed) +
                         " bytes");
    if (device)
      if (llvm::Error e = device->finishRun())
        return engineError("the run on the device failed: " + llvm::toString(std::move(e)));
    indexError = takeIndexError();
  }

  std::vector<HostTensor> outputs;
  size_t offset = 0;
  for (const TensorSignature &sig : outputSigs) {
    const int64_t *words = resultStruct.data() + offset;
    size_t rank = sig.shape.size();
    HostTensor t;
    t.kind = sig.kind;
    t.shape.assign(words + 3, words + 3 + rank);
    size_t elemSize = elementSize(sig.kind);
    t.data.resize(t.numElements() * elemSize);
    auto *base = reinterpret_cast<const uint8_t *>(words[1]) + words[2] * elemSize;
    // Dense results in one copy; others honouring strides (a result may be
    // a view, e.g. a transpose).
    bool dense = true;
    for (int64_t d = int64_t(rank) - 1, expected = 1; d >= 0; --d) {
      dense &= t.shape[d] == 1 || words[3 + rank + d] == expected;
      expected *= t.shape[d];
    }
    // From a device, the span the result covers comes to the host first.
    std::vector<uint8_t> staged;
    if (device && t.numElements() > 0) {
      int64_t span = 1;
      for (size_t d = 0; d < rank; ++d)
        span += (t.shape[d] - 1) * words[3 + rank + d];
      staged.resize(size_t(span) * elemSize);
      if (llvm::Error e = device->download(staged.data(), base, staged.size()))
        return engineError("reading result '" + sig.name + "' from the device failed: " +
                           llvm::toString(std::move(e)));
      base = staged.data();
    }
    if (dense && !t.data.empty())
      memcpy(t.data.data(), base, t.data.size());
    std::vector<int64_t> index(rank, 0);
    for (int64_t n = 0, total = dense ? 0 : t.numElements(); n < total; ++n) {
      int64_t at = 0;
      for (size_t d = 0; d < rank; ++d)
        at += index[d] * words[3 + rank + d];
      memcpy(t.data.data() + n * elemSize, base + at * elemSize, elemSize);
      for (size_t d = rank; d-- > 0;) {
        if (++index[d] < t.shape[d])
          break;
        index[d] = 0;
      }
    }
    outputs.push_back(std::move(t));
    offset += 3 + 2 * rank;
  }
  // The deallocation pipeline hands ownership of every result to the caller;
  // two results may share one buffer.
  llvm::SmallPtrSet<void *, 8> freed;
  offset = 0;
  for (const TensorSignature &sig : outputSigs) {
    void *allocated = reinterpret_cast<void *>(resultStruct[offset]);
    offset += 3 + 2 * sig.shape.size();
    if (!freed.insert(allocated).second)
      continue;
    if (device)
      device->release(allocated);
    else
      _mlir_memref_to_llvm_free(allocated);
  }
  if (indexError) {
    const std::string &site = indexError->site >= 0 && size_t(indexError->site) < indexSites.size()
                                  ? indexSites[indexError->site]
                                  : "an index";
    return engineError(describeIndexError(*indexError, site.c_str()));
  }
  return outputs;
}
