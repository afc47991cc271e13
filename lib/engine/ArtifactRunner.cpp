// Runs a compiled CPU artifact through the C API its shared library exports.
#include "lib/engine/ArtifactRunner.h"

#include "compress/compress_runtime.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/Path.h"

#include <cstring>
#include <dlfcn.h>

using namespace compress;

/// The artifact's own entry points, looked up in its library so that its
/// runtime, not the host tool's, runs it.
struct ArtifactRunner::Api {
  const compress_model *model;
  decltype(&compress_session_create) create;
  decltype(&compress_session_set_input) setInput;
  decltype(&compress_session_run) run;
  decltype(&compress_session_get_output) getOutput;
  decltype(&compress_session_destroy) destroy;
  decltype(&compress_last_error) lastError;
};

static llvm::Error loadError(const llvm::Twine &what) { return llvm::createStringError(what); }

static std::optional<ElementKind> kindOf(compress_dtype dtype) {
  switch (dtype) {
  case COMPRESS_FLOAT32: return ElementKind::F32;
  case COMPRESS_FLOAT64: return ElementKind::F64;
  case COMPRESS_FLOAT16: return ElementKind::F16;
  case COMPRESS_INT8: return ElementKind::I8;
  case COMPRESS_INT16: return ElementKind::I16;
  case COMPRESS_INT32: return ElementKind::I32;
  case COMPRESS_INT64: return ElementKind::I64;
  case COMPRESS_UINT8: return ElementKind::U8;
  case COMPRESS_UINT16: return ElementKind::U16;
  case COMPRESS_UINT32: return ElementKind::U32;
  case COMPRESS_UINT64: return ElementKind::U64;
  case COMPRESS_BOOL: return ElementKind::Bool;
  }
  return std::nullopt;
}

static llvm::Expected<std::vector<TensorSignature>> signatures(const compress_tensor_info *infos,
                                                               int count) {
  std::vector<TensorSignature> out;
  for (int i = 0; i < count; ++i) {
    std::optional<ElementKind> kind = kindOf(infos[i].dtype);
    if (!kind)
      return loadError("'" + llvm::Twine(infos[i].name) + "' has an unknown element type");
    out.push_back({infos[i].name, *kind,
                   std::vector<int64_t>(infos[i].dims, infos[i].dims + infos[i].rank)});
  }
  return out;
}

llvm::Expected<std::unique_ptr<ArtifactRunner>> ArtifactRunner::load(llvm::StringRef library,
                                                                     int numThreads) {
  llvm::StringRef file = llvm::sys::path::filename(library);
  if (!file.starts_with("lib") || !file.ends_with(".so"))
    return loadError("'" + library + "' is not an artifact library (lib<name>.so)");
  std::string name = file.drop_front(3).drop_back(3).str();
  std::unique_ptr<ArtifactRunner> self(new ArtifactRunner());
  std::string path = library.str();
  if (!llvm::sys::path::has_parent_path(path))
    path = "./" + path;
  self->handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!self->handle)
    return loadError("cannot load '" + library + "': " + dlerror());
  auto api = std::make_unique<Api>();
  auto symbol = [&](const std::string &s) { return dlsym(self->handle, s.c_str()); };
  api->model = static_cast<const compress_model *>(symbol(name + "_model"));
  api->create = reinterpret_cast<decltype(api->create)>(symbol("compress_session_create"));
  api->setInput = reinterpret_cast<decltype(api->setInput)>(symbol("compress_session_set_input"));
  api->run = reinterpret_cast<decltype(api->run)>(symbol("compress_session_run"));
  api->getOutput = reinterpret_cast<decltype(api->getOutput)>(symbol("compress_session_get_output"));
  api->destroy = reinterpret_cast<decltype(api->destroy)>(symbol("compress_session_destroy"));
  api->lastError = reinterpret_cast<decltype(api->lastError)>(symbol("compress_last_error"));
  if (!api->model || !api->create || !api->setInput || !api->run || !api->getOutput ||
      !api->destroy || !api->lastError)
    return loadError("'" + library + "' does not export model '" + name +
                     "' and the session API");
  auto inputs = signatures(api->model->inputs, api->model->num_inputs);
  if (!inputs)
    return inputs.takeError();
  auto outputs = signatures(api->model->outputs, api->model->num_outputs);
  if (!outputs)
    return outputs.takeError();
  self->inputSigs = *inputs;
  self->outputSigs = *outputs;
  llvm::SmallString<256> weights = llvm::sys::path::parent_path(path);
  llvm::sys::path::append(weights, name + ".weights");
  self->session = api->create(api->model, weights.c_str(), numThreads);
  if (!self->session)
    return loadError(api->lastError());
  self->api = std::move(api);
  return self;
}

ArtifactRunner::~ArtifactRunner() {
  if (session)
    api->destroy(static_cast<compress_session *>(session));
  if (handle)
    dlclose(handle);
}

llvm::Expected<std::vector<HostTensor>> ArtifactRunner::run(llvm::ArrayRef<HostTensor> inputs) {
  auto *s = static_cast<compress_session *>(session);
  if (inputs.size() != inputSigs.size())
    return loadError("the model takes " + llvm::Twine(inputSigs.size()) + " inputs, got " +
                     llvm::Twine(inputs.size()));
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].kind != inputSigs[i].kind)
      return loadError("input '" + inputSigs[i].name + "' must be " +
                       elementName(inputSigs[i].kind) + ", got " + elementName(inputs[i].kind));
    if (api->setInput(s, inputSigs[i].name.c_str(), inputs[i].data.data(),
                      inputs[i].shape.data(), int(inputs[i].shape.size())))
      return loadError(api->lastError());
  }
  if (api->run(s))
    return loadError(api->lastError());
  std::vector<HostTensor> outputs;
  for (const TensorSignature &sig : outputSigs) {
    const void *data;
    const int64_t *shape;
    int rank;
    if (api->getOutput(s, sig.name.c_str(), &data, &shape, &rank))
      return loadError(api->lastError());
    HostTensor t;
    t.kind = sig.kind;
    t.shape.assign(shape, shape + rank);
    t.data.resize(t.numElements() * elementSize(t.kind));
    if (!t.data.empty())
      memcpy(t.data.data(), data, t.data.size());
    outputs.push_back(std::move(t));
  }
  return outputs;
}
