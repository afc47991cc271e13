// compressir._native: the C++ driver the tools use, for Python (nanobind).
// python/compressir/__init__.py wraps it in the package's API; what is
// here keeps to the tools' own steps: load (import), compress (passes with
// calibration), compile (JIT) and run, package an artifact, export to ONNX.
#include "lib/aot/Artifact.h"
#include "lib/driver/LoadModel.h"
#include "lib/driver/ToolOptions.h"
#include "lib/engine/CpuEngine.h"
#include "lib/export/OnnxExport.h"
#include "lib/support/AtomicOutput.h"
#include "lib/support/HostTensor.h"
#include "lib/target/Target.h"
#include "lib/target/cpu/CpuTarget.h"
#include "lib/target/cuda/CudaTarget.h"
#include "passes/Registration.h"
#include "passes/compression/LayerWeights.h"

#include "mlir/IR/BuiltinOps.h"

#include "llvm/Support/JSON.h"

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cstring>
#include <dlfcn.h>
#include <optional>

namespace nb = nanobind;
using namespace compress;

namespace {

/// Raises llvm::Error's message as a Python RuntimeError.
void check(llvm::Error e) {
  if (e)
    throw std::runtime_error(llvm::toString(std::move(e)));
}
template <typename T>
T check(llvm::Expected<T> value) {
  if (!value)
    throw std::runtime_error(llvm::toString(value.takeError()));
  return std::move(*value);
}

/// The command-line options objects the driver's functions read register
/// LLVM options when made: one of each for the process.
PluginOptions &plugins() {
  static PluginOptions options;
  return options;
}
WeightMemoryOption &weightMemory() {
  static WeightMemoryOption option;
  return option;
}

void registerOnce() {
  static bool done = [] {
    registerAllCompressPasses();
    registerCpuTarget();
    registerCudaTarget();
    return true;
  }();
  (void)done;
}

const ElementKind kKinds[] = {ElementKind::F16, ElementKind::BF16, ElementKind::F32,
                              ElementKind::F64, ElementKind::I8,   ElementKind::I16,
                              ElementKind::I32, ElementKind::I64,  ElementKind::U8,
                              ElementKind::U16, ElementKind::U32,  ElementKind::U64,
                              ElementKind::Bool};

nb::dlpack::dtype dlpackOf(ElementKind kind) {
  using Code = nb::dlpack::dtype_code;
  auto make = [](Code code, int bits) { return nb::dlpack::dtype{uint8_t(code), uint8_t(bits), 1}; };
  switch (kind) {
  case ElementKind::F16: return make(Code::Float, 16);
  case ElementKind::BF16: return make(Code::Bfloat, 16);
  case ElementKind::F32: return make(Code::Float, 32);
  case ElementKind::F64: return make(Code::Float, 64);
  case ElementKind::I8: return make(Code::Int, 8);
  case ElementKind::I16: return make(Code::Int, 16);
  case ElementKind::I32: return make(Code::Int, 32);
  case ElementKind::I64: return make(Code::Int, 64);
  case ElementKind::U8: return make(Code::UInt, 8);
  case ElementKind::U16: return make(Code::UInt, 16);
  case ElementKind::U32: return make(Code::UInt, 32);
  case ElementKind::U64: return make(Code::UInt, 64);
  case ElementKind::Bool: return make(Code::Bool, 8);
  }
  throw std::runtime_error("an element type numpy has no array for");
}

using InputArray = nb::ndarray<nb::ro, nb::c_contig, nb::device::cpu>;

HostTensor toHost(const std::string &name, const InputArray &array) {
  HostTensor t;
  nb::dlpack::dtype dtype = array.dtype();
  bool found = false;
  for (ElementKind kind : kKinds)
    if (dlpackOf(kind) == dtype) {
      t.kind = kind;
      found = true;
    }
  if (!found)
    throw std::runtime_error("input '" + name + "': unsupported element type");
  for (size_t i = 0; i < array.ndim(); ++i)
    t.shape.push_back(int64_t(array.shape(i)));
  t.data.resize(array.nbytes());
  if (array.nbytes())
    memcpy(t.data.data(), array.data(), array.nbytes());
  return t;
}

nb::object toNumpy(HostTensor tensor) {
  auto *owned = new HostTensor(std::move(tensor));
  nb::capsule owner(owned, [](void *p) noexcept { delete static_cast<HostTensor *>(p); });
  std::vector<size_t> shape(owned->shape.begin(), owned->shape.end());
  return nb::cast(nb::ndarray<nb::numpy>(owned->data.data(), shape.size(), shape.data(), owner,
                                         nullptr, dlpackOf(owned->kind)));
}

nb::dict signature(const TensorSignature &sig) {
  nb::dict d;
  d["name"] = sig.name;
  d["dtype"] = std::string(elementName(sig.kind));
  nb::list shape;
  for (int64_t dim : sig.shape)
    if (dim < 0)
      shape.append(nb::none());
    else
      shape.append(nb::int_(dim));
  d["shape"] = shape;
  return d;
}

/// A model in the compiler: imported, maybe compressed, not yet lowered.
class Model {
public:
  Model(const std::string &path, const std::map<std::string, std::vector<int64_t>> &inputShapes)
      : path(path) {
    registerOnce();
    context = createToolContext(plugins());
    check(weightMemory().attach(*context));
    setPendingOutputs(context.get(), &reports);
    OnnxImportOptions options;
    for (const auto &[name, dims] : inputShapes)
      options.inputShapes[name] = llvm::SmallVector<int64_t>(dims.begin(), dims.end());
    module = check(loadModel(*context, path, options));
    if (llvm::StringRef(path).ends_with(".onnx"))
      imported.emplace(check(ImportedGraph::take(*module)));
  }
  ~Model() { setPendingOutputs(context.get(), nullptr); }

  /// Runs `pipeline`; returns the reports made, as JSON text.
  std::vector<std::string> compress(const std::string &pipeline, const std::string &calibration,
                                    int numThreads) {
    size_t before = reports.reports().size();
    EngineOptions engine;
    engine.numThreads = numThreads;
    check(runCompressionPasses(*module, pipeline, calibration, engine, path));
    std::vector<std::string> made;
    std::vector<llvm::json::Value> all = reports.reports();
    for (size_t i = before; i < all.size(); ++i)
      made.push_back(llvm::formatv("{0}", all[i]).str());
    // A pass's report=PATH file goes into place now: the run succeeded.
    check(reports.commitAll());
    return made;
  }

  std::string mlir() {
    std::string s;
    llvm::raw_string_ostream os(s);
    module->print(os);
    return s;
  }

  /// A copy of the module: compiling lowers what it is given in place.
  mlir::OwningOpRef<mlir::ModuleOp> copy() { return mlir::OwningOpRef<mlir::ModuleOp>(module->clone()); }

  void exportOnnx(const std::string &output, const std::string &externalData, int accuracyLevel) {
    if (!imported)
      throw std::runtime_error("'" + path + "' is not an .onnx file: export rewrites the model's own graph");
    OnnxExportOptions options;
    options.externalData = externalData;
    options.accuracyLevel = accuracyLevel;
    PendingOutputs outputs;
    check(exportOnnxFile(path, *module, *imported, output, options, outputs));
    check(outputs.commitAll());
  }

  void package(const std::string &target, const std::string &name, const std::string &folder,
               const std::string &precision) {
    const Target &backend = check(lookupTarget(target));
    if (!isValidArtifactName(name))
      throw std::runtime_error("bad artifact name '" + name + "': expected a C identifier");
    auto copied = copy();
    check(backend.packageArtifact(*copied, {name, folder, precision}));
  }

  std::unique_ptr<mlir::MLIRContext> context;
  mlir::OwningOpRef<mlir::ModuleOp> module;

private:
  std::string path;
  std::optional<ImportedGraph> imported;
  PendingOutputs reports;
};

/// A model compiled by the JIT for this process.
class Compiled {
public:
  Compiled(Model &model, const std::string &target, int numThreads, const std::string &precision) {
    EngineOptions options;
    options.target = target;
    options.numThreads = numThreads;
    options.precision = precision;
    auto copied = model.copy();
    engine = check(CpuEngine::compile(*copied, options));
  }

  nb::list inputs() const {
    nb::list l;
    for (const TensorSignature &s : engine->inputs())
      l.append(signature(s));
    return l;
  }
  nb::list outputs() const {
    nb::list l;
    for (const TensorSignature &s : engine->outputs())
      l.append(signature(s));
    return l;
  }

  /// Runs on arrays given by input name; returns arrays by output name.
  nb::dict run(const std::map<std::string, InputArray> &given) {
    std::vector<HostTensor> inputs;
    for (const TensorSignature &sig : engine->inputs()) {
      auto it = given.find(sig.name);
      if (it == given.end())
        throw std::runtime_error("missing input '" + sig.name + "'");
      inputs.push_back(toHost(sig.name, it->second));
    }
    for (const auto &[name, array] : given)
      if (!llvm::any_of(engine->inputs(), [&](const TensorSignature &s) { return s.name == name; }))
        throw std::runtime_error("'" + name + "' is not an input of the model");
    std::vector<HostTensor> results;
    {
      nb::gil_scoped_release release;
      auto outputs = engine->run(inputs);
      if (!outputs)
        throw std::runtime_error(llvm::toString(outputs.takeError()));
      results = std::move(*outputs);
    }
    nb::dict out;
    for (size_t i = 0; i < results.size(); ++i)
      out[engine->outputs()[i].name.c_str()] = toNumpy(std::move(results[i]));
    return out;
  }

private:
  std::unique_ptr<CpuEngine> engine;
};

} // namespace

NB_MODULE(_native, m) {
  // JIT-compiled code calls the OpenMP runtime the tools link, resolved among
  // the process's global symbols; Python loads this module and what it needs
  // privately (RTLD_LOCAL), so the runtime is made global here.
  if (!dlopen("libomp.so.5", RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD))
    throw std::runtime_error(std::string("cannot make the OpenMP runtime's symbols global: ") +
                             dlerror());
  m.doc() = "CompressIR's compiler driver (use the compressir package)";
  nb::class_<Model>(m, "Model")
      .def(nb::init<const std::string &, const std::map<std::string, std::vector<int64_t>> &>(),
           nb::arg("path"), nb::arg("input_shapes"))
      .def("compress", &Model::compress, nb::arg("pipeline"), nb::arg("calibration"),
           nb::arg("num_threads"))
      .def("mlir", &Model::mlir)
      .def("export_onnx", &Model::exportOnnx, nb::arg("path"), nb::arg("external_data"),
           nb::arg("accuracy_level"))
      .def("package", &Model::package, nb::arg("target"), nb::arg("name"), nb::arg("folder"),
           nb::arg("precision"));
  nb::class_<Compiled>(m, "Compiled")
      .def(nb::init<Model &, const std::string &, int, const std::string &>(), nb::arg("model"),
           nb::arg("target"), nb::arg("num_threads"), nb::arg("precision"), nb::keep_alive<1, 2>())
      .def_prop_ro("inputs", &Compiled::inputs)
      .def_prop_ro("outputs", &Compiled::outputs)
      .def("run", &Compiled::run, nb::arg("inputs"));
}
