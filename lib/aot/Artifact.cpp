// Ahead-of-time compilation to an artifact: lower with the target's
// pipeline, emit an object file for the host, generate the C glue that
// describes the model, link with the target's runtime.
#include "lib/aot/Artifact.h"

#include "compress/compress_runtime.h"

#include "lib/engine/CpuEngine.h"
#include "lib/support/AtomicOutput.h"
#include "passes/conversion/Passes.h"
#include "passes/cpu/Passes.h"
#include "passes/cpu/IndexChecks.h"
#include "passes/cpu/Pipelines.h"
#include "passes/gpu/Pipelines.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/OpenMP/OpenMPToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/ADT/ScopeExit.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/Support/xxhash.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/SubtargetFeature.h"

using namespace compress;
using namespace mlir;

static llvm::Error aotError(const llvm::Twine &what) { return llvm::createStringError(what); }

bool compress::isValidArtifactName(llvm::StringRef name) {
  if (name.empty() || isdigit(static_cast<unsigned char>(name[0])))
    return false;
  return llvm::all_of(name, [](char c) { return isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

static const char *dtypeEnum(ElementKind kind) {
  switch (kind) {
  case ElementKind::F32: return "COMPRESS_FLOAT32";
  case ElementKind::F64: return "COMPRESS_FLOAT64";
  case ElementKind::F16: return "COMPRESS_FLOAT16";
  case ElementKind::I8: return "COMPRESS_INT8";
  case ElementKind::I16: return "COMPRESS_INT16";
  case ElementKind::I32: return "COMPRESS_INT32";
  case ElementKind::I64: return "COMPRESS_INT64";
  case ElementKind::U8: return "COMPRESS_UINT8";
  case ElementKind::U16: return "COMPRESS_UINT16";
  case ElementKind::U32: return "COMPRESS_UINT32";
  case ElementKind::U64: return "COMPRESS_UINT64";
  case ElementKind::Bool: return "COMPRESS_BOOL";
  case ElementKind::BF16: break;
  }
  return nullptr;
}

static std::string cString(llvm::StringRef s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\%03o", c);
      out += buf;
      continue;
    }
    out += c;
  }
  return out + "\"";
}

/// Ends the weights file at `path` (its first `weightsBytes` the weights)
/// with the trailer a session checks: the magic and a hash of the weights.
/// Returns the hash (never 0): xxh3 of the xxh3 of each 64 MiB of the file,
/// read a piece at a time so that memory does not grow with the model.
static llvm::Expected<uint64_t> sealWeightsFile(llvm::StringRef path, uint64_t weightsBytes) {
  constexpr size_t kPiece = size_t(64) << 20;
  auto file = llvm::sys::fs::openNativeFileForRead(path);
  if (!file)
    return aotError("cannot read the weights file '" + path +
                    "': " + llvm::toString(file.takeError()));
  llvm::scope_exit closeFile([&] { llvm::sys::fs::closeFile(*file); });
  std::vector<char> piece(kPiece);
  std::vector<uint64_t> pieceHashes;
  uint64_t total = 0;
  for (;;) {
    size_t filled = 0;
    while (filled < piece.size()) {
      llvm::Expected<size_t> read = llvm::sys::fs::readNativeFile(
          *file, llvm::MutableArrayRef<char>(piece).drop_front(filled));
      if (!read)
        return aotError("cannot read the weights file '" + path +
                        "': " + llvm::toString(read.takeError()));
      if (*read == 0)
        break;
      filled += *read;
    }
    if (filled == 0)
      break;
    total += filled;
    pieceHashes.push_back(llvm::xxh3_64bits(
        llvm::ArrayRef<uint8_t>(reinterpret_cast<const uint8_t *>(piece.data()), filled)));
    if (filled < piece.size())
      break;
  }
  if (total != weightsBytes)
    return aotError("internal error: the weights file has " + llvm::Twine(total) +
                    " bytes, its layout " + llvm::Twine(weightsBytes));
  uint64_t hash = llvm::xxh3_64bits(llvm::ArrayRef<uint8_t>(
      reinterpret_cast<const uint8_t *>(pieceHashes.data()), pieceHashes.size() * 8));
  hash += hash == 0;
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_Append);
  if (ec)
    return aotError("cannot write the weights file '" + path + "': " + ec.message());
  os.write(COMPRESS_WEIGHTS_MAGIC, 8);
  for (int i = 0; i < 8; ++i)
    os << char((hash >> (8 * i)) & 0xff);
  os.close();
  if (os.has_error())
    return aotError("cannot write the weights file '" + path + "': " + os.error().message());
  return hash;
}

/// The C source that describes the model to the runtime and forwards to
/// the compiled entry point.
static llvm::Expected<std::string> glueSource(const EntrySignature &sig, llvm::StringRef name,
                                              uint64_t weightsBytes, uint64_t weightsHash,
                                              llvm::ArrayRef<std::string> indexSites,
                                              llvm::StringRef deviceMemory) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << "/* Generated by compress-compile: the descriptor of model '" << name << "'. */\n"
     << "#include \"" << name << ".h\"\n\n"
     << "extern void compress_" << name << "_invoke(void *results, void *weights";
  for (size_t i = 0; i < sig.inputs.size(); ++i)
    os << ", void *input" << i;
  os << ");\n\n";
  auto table = [&](const std::vector<TensorSignature> &tensors, const char *kind) -> llvm::Error {
    for (size_t i = 0; i < tensors.size(); ++i) {
      os << "static const int64_t " << kind << i << "_dims[] = {";
      for (size_t d = 0; d < tensors[i].shape.size(); ++d)
        os << (d ? ", " : "") << tensors[i].shape[d];
      if (tensors[i].shape.empty())
        os << "0";
      os << "};\n";
      if (tensors[i].dimNames.empty())
        continue;
      os << "static const char *const " << kind << i << "_dim_names[] = {";
      for (size_t d = 0; d < tensors[i].dimNames.size(); ++d)
        os << (d ? ", " : "") << cString(tensors[i].dimNames[d]);
      os << "};\n";
    }
    os << "static const compress_tensor_info " << kind << "s[] = {\n";
    for (size_t i = 0; i < tensors.size(); ++i) {
      const char *dtype = dtypeEnum(tensors[i].kind);
      if (!dtype)
        return aotError("'" + tensors[i].name + "' has an element type the C API lacks");
      os << "  {" << cString(tensors[i].name) << ", " << dtype << ", "
         << tensors[i].shape.size() << ", " << kind << i << "_dims, "
         << (tensors[i].dimNames.empty() ? std::string("NULL")
                                         : kind + std::to_string(i) + "_dim_names")
         << "},\n";
    }
    os << "};\n\n";
    return llvm::Error::success();
  };
  if (llvm::Error e = table(sig.inputs, "input"))
    return std::move(e);
  if (llvm::Error e = table(sig.outputs, "output"))
    return std::move(e);
  os << "static void invoke(void *results, void *weights, void **inputs) {\n"
     << "  compress_" << name << "_invoke(results, weights";
  for (size_t i = 0; i < sig.inputs.size(); ++i)
    os << ", inputs[" << i << "]";
  os << ");\n}\n\n";
  os << "static const char *const index_sites[] = {";
  for (size_t i = 0; i < indexSites.size(); ++i)
    os << (i ? ", " : "") << cString(indexSites[i]);
  if (indexSites.empty())
    os << "\"\"";
  os << "};\n\n";
  if (!deviceMemory.empty())
    os << "extern const compress_device_memory " << deviceMemory << ";\n\n";
  os << "const compress_model " << name << "_model = {\n"
     << "  " << cString(name) << ", " << sig.inputs.size() << ", inputs, "
     << sig.outputs.size() << ", outputs, " << weightsBytes << "ULL, invoke, "
     << indexSites.size() << ", index_sites, "
     << (deviceMemory.empty() ? std::string("NULL") : "&" + deviceMemory.str()) << ", "
     << weightsHash << "ULL};\n";
  return s;
}

static std::string headerSource(llvm::StringRef name) {
  std::string upper = name.upper();
  return "/* Generated by compress-compile: model '" + name.str() +
         "'. See compress_runtime.h for the session API. */\n#ifndef " + upper +
         "_MODEL_H\n#define " + upper + "_MODEL_H\n\n#include \"compress_runtime.h\"\n\n" +
         "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\nextern const compress_model " +
         name.str() + "_model;\n\n#ifdef __cplusplus\n}\n#endif\n\n#endif\n";
}

/// Runs a tool found on PATH; its output goes to stderr only on failure.
static llvm::Error runTool(llvm::StringRef tool, llvm::ArrayRef<std::string> args) {
  auto program = llvm::sys::findProgramByName(tool);
  if (!program)
    return aotError("cannot find '" + tool + "' on PATH");
  llvm::SmallVector<llvm::StringRef> argv = {*program};
  for (const std::string &a : args)
    argv.push_back(a);
  std::string message;
  int rc = llvm::sys::ExecuteAndWait(*program, argv, std::nullopt, {}, 0, 0, &message);
  if (rc != 0) {
    std::string line = tool.str();
    for (const std::string &a : args)
      line += " " + a;
    return aotError("'" + line + "' failed" + (message.empty() ? "" : ": " + message));
  }
  return llvm::Error::success();
}

static llvm::Expected<std::unique_ptr<llvm::TargetMachine>> hostTargetMachine() {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  llvm::Triple triple(llvm::sys::getDefaultTargetTriple());
  std::string error;
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return aotError("no LLVM target for " + triple.str() + ": " + error);
  llvm::SubtargetFeatures features;
  for (const auto &f : llvm::sys::getHostCPUFeatures())
    features.AddFeature(f.first(), f.second);
  std::unique_ptr<llvm::TargetMachine> tm(target->createTargetMachine(
      triple, llvm::sys::getHostCPUName(), features.getString(), llvm::TargetOptions(),
      llvm::Reloc::PIC_, std::nullopt, llvm::CodeGenOptLevel::Aggressive));
  if (!tm)
    return aotError("cannot create a target machine for " + triple.str());
  return tm;
}

static llvm::Error emitObject(ModuleOp module, llvm::StringRef path, llvm::StringRef name) {
  DialectRegistry registry;
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  registerOpenMPDialectTranslation(registry);
  // Device code travels as a gpu.binary, which becomes a constant here.
  registerCudaCodegenInterfaces(registry);
  module->getContext()->appendDialectRegistry(registry);
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule = translateModuleToLLVMIR(module, llvmContext, name);
  if (!llvmModule)
    return aotError("translation to LLVM IR failed");
  auto tm = hostTargetMachine();
  if (!tm)
    return tm.takeError();
  llvmModule->setTargetTriple((*tm)->getTargetTriple());
  llvmModule->setDataLayout((*tm)->createDataLayout());
  if (llvm::Error e = makeOptimizingTransformer(3, 0, tm->get())(llvmModule.get()))
    return e;
  auto file = AtomicFile::create(path);
  if (!file)
    return file.takeError();
  {
    // Gone before the file closes: the emitter holds its stream.
    llvm::legacy::PassManager pm;
    if ((*tm)->addPassesToEmitFile(pm, file->os(), nullptr, llvm::CodeGenFileType::ObjectFile))
      return aotError("the target cannot emit object files");
    pm.run(*llvmModule);
  }
  return file->commit();
}

ArtifactRecipe compress::cpuArtifactRecipe() {
  ArtifactRecipe recipe;
  recipe.buildPipeline = [](OpPassManager &pm, const ExternalizeWeightsPassOptions &weights) {
    return buildCpuLoweringPipeline(pm, &weights);
  };
  recipe.runtimeArchives = {COMPRESS_RUNTIME_ARCHIVE};
  // libomp first: it must serve oneDNN's OpenMP calls.
  recipe.linkFlags = {"-Wl,--no-as-needed", COMPRESS_OMP_LIBRARY, "-Wl,--as-needed",
                      COMPRESS_DNNL_LIBRARY, "-lm"};
  return recipe;
}

llvm::Error compress::compileArtifact(ModuleOp module, const AotOptions &options,
                                      const ArtifactRecipe &recipe) {
  if (!isValidArtifactName(options.name))
    return aotError("artifact name '" + options.name + "' is not a C identifier");
  auto signature = readEntrySignature(module);
  if (!signature)
    return signature.takeError();

  // Every file is made in a staging folder beside the destination, which
  // gets them only once all are made: a failure at any step leaves no
  // artifact, or an existing one as it was.
  auto staging = StagingFolder::create(options.outputDir);
  if (!staging)
    return staging.takeError();
  auto inStaging = [&](const llvm::Twine &file) { return staging->file(file); };
  std::string name = options.name;

  MLIRContext *ctx = module.getContext();
  std::string diagnostics;
  ScopedDiagnosticHandler handler(ctx, [&](Diagnostic &d) {
    if (d.getSeverity() == DiagnosticSeverity::Error)
      diagnostics += (diagnostics.empty() ? "" : "; ") + d.str();
    return success();
  });
  PassManager pm(ctx);
  ExternalizeWeightsPassOptions weights;
  weights.weightsFile = inStaging(name + ".weights");
  if (failed(recipe.buildPipeline(pm, weights)))
    return aotError("internal error: invalid lowering pipeline");
  if (failed(pm.run(module)))
    return aotError("lowering failed: " + diagnostics);
  auto layout = module->getAttrOfType<DictionaryAttr>("compress.weights_layout");
  uint64_t weightsBytes = layout ? layout.getAs<IntegerAttr>("total_bytes").getInt() : 0;
  uint64_t weightsHash = 0;
  if (weightsBytes > 0) {
    auto sealed = sealWeightsFile(inStaging(name + ".weights"), weightsBytes);
    if (!sealed)
      return sealed.takeError();
    weightsHash = *sealed;
  }

  // Entry points get the model's name, so that several models link together.
  SymbolTable symbols(module);
  for (auto [from, to] : {std::pair<std::string, std::string>{"_mlir_ciface_main",
                                                              "compress_" + name + "_invoke"},
                          {"main", "compress_" + name + "_impl"}}) {
    Operation *fn = symbols.lookup(from);
    if (!fn || failed(symbols.rename(fn, to)))
      return aotError("internal error: no '" + from + "' after lowering");
  }
  if (llvm::Error e = emitObject(module, inStaging(name + ".o"), name))
    return e;

  auto glue = glueSource(*signature, name, weightsBytes, weightsHash, indexSitesOf(module),
                         recipe.deviceMemorySymbol);
  if (!glue)
    return glue.takeError();
  if (llvm::Error e = writeFileAtomically(inStaging(name + ".h"), headerSource(name)))
    return e;
  if (llvm::Error e = writeFileAtomically(inStaging(name + "_model.c"), *glue))
    return e;
  if (std::error_code ec = llvm::sys::fs::copy_file(COMPRESS_RUNTIME_HEADER,
                                                    inStaging("compress_runtime.h")))
    return aotError("cannot copy compress_runtime.h: " + ec.message());
  std::vector<std::string> archives;
  for (const std::string &archive : recipe.runtimeArchives) {
    archives.push_back(inStaging(llvm::sys::path::filename(archive)));
    if (std::error_code ec = llvm::sys::fs::copy_file(archive, archives.back()))
      return aotError("cannot copy the runtime library '" + archive + "': " + ec.message());
  }
  if (llvm::Error e = runTool("cc", {"-O2", "-fPIC", "-c", inStaging(name + "_model.c"),
                                     "-I", staging->path().str(), "-o",
                                     inStaging(name + "_model.o")}))
    return e;
  if (llvm::Error e = runTool("ar", {"rcs", inStaging("lib" + name + ".a"), inStaging(name + ".o"),
                                     inStaging(name + "_model.o")}))
    return e;
  // The session API must be exported even though the model code does not
  // call it: the runtime archives go in whole.
  std::vector<std::string> link = {"-shared", "-o", inStaging("lib" + name + ".so"),
                                   inStaging(name + ".o"), inStaging(name + "_model.o")};
  link.push_back("-Wl,--whole-archive");
  link.insert(link.end(), archives.begin(), archives.end());
  link.push_back("-Wl,--no-whole-archive");
  link.insert(link.end(), recipe.linkFlags.begin(), recipe.linkFlags.end());
  if (llvm::Error e = runTool("c++", link))
    return e;
  staging->remove(name + ".o");
  staging->remove(name + "_model.o");

  return staging->commit();
}
