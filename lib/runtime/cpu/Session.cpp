// Sessions of a compiled model: the weights file mapped into memory (and,
// for code that works in device memory, uploaded there once), inputs bound
// by name, the compiled code called through memref descriptors.
#include "compress/compress_runtime.h"
#include "lib/runtime/cpu/Allocator.h"
#include "lib/runtime/cpu/Contraction.h"
#include "lib/runtime/cpu/RunChecks.h"


#include <cstdio>
#include <optional>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <fcntl.h>
#include <omp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>


namespace {

thread_local std::string lastError;

int fail(const std::string &message) {
  lastError = message;
  return -1;
}

/// A ranked memref descriptor: {allocated, aligned, offset, sizes, strides}.
struct Descriptor {
  std::vector<int64_t> words;

  Descriptor(void *data, const int64_t *shape, int rank) : words(3 + 2 * rank) {
    words[0] = words[1] = reinterpret_cast<int64_t>(data);
    int64_t stride = 1;
    for (int i = rank - 1; i >= 0; --i) {
      words[3 + i] = shape[i];
      words[3 + rank + i] = stride;
      stride *= shape[i];
    }
  }
};

struct Output {
  void *allocated = nullptr;
  std::vector<char> contiguous; // used only when the result is strided
  std::vector<char> staged;     // a device result's span, read back
  /// The host copy, dense; for a device result null until first asked for.
  const void *data = nullptr;
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;
  /// Where the result's first element lies (device memory for device models).
  const char *base = nullptr;
  bool dense = true;
};

/// Makes `o.data` a dense host copy of the result at `o.base`; `download`
/// (a device model's) first brings the span the result covers to the host.
const char *materialize(Output &o, size_t elem, const compress_device_memory *device) {
  int rank = int(o.shape.size());
  int64_t count = 1, span = 1;
  for (int d = 0; d < rank; ++d) {
    count *= o.shape[d];
    span += (o.shape[d] - 1) * o.strides[d];
  }
  const char *base = o.base;
  if (device && count > 0) {
    o.staged.resize(span * elem);
    if (const char *error = device->download(o.staged.data(), base, o.staged.size()))
      return error;
    base = o.staged.data();
  }
  if (o.dense) {
    o.data = count > 0 ? base : o.staged.data();
    return nullptr;
  }
  // Results are normally dense; copy the rare strided one into place.
  o.contiguous.resize(count * elem);
  std::vector<int64_t> index(rank, 0);
  for (int64_t n = 0; n < count; ++n) {
    int64_t off = 0;
    for (int d = 0; d < rank; ++d)
      off += index[d] * o.strides[d];
    memcpy(o.contiguous.data() + n * elem, base + off * elem, elem);
    for (int d = rank - 1; d >= 0; --d) {
      if (++index[d] < o.shape[d])
        break;
      index[d] = 0;
    }
  }
  o.data = o.contiguous.data();
  return nullptr;
}

} // namespace

struct compress_session {
  const compress_model *model;
  void *weights = MAP_FAILED;
  size_t weightsBytes = 0;
  /// The weights' copy in the model's device memory, if it has one.
  void *deviceWeights = nullptr;
  std::vector<const void *> inputData;
  std::vector<std::vector<int64_t>> inputShapes;
  /// Inputs bound in device memory (compress_session_set_device_input).
  std::vector<char> inputOnDevice;
  std::vector<Output> outputs;

  /// Device models: the inputs' device copies, kept between runs (a graph
  /// reads them where it was recorded), and their sizes.
  std::vector<void *> deviceInputs;
  std::vector<uint64_t> deviceInputBytes;
  /// Device graphs (compress_session_run): whether this session records
  /// them, what the last run read (the input shapes, and the addresses of
  /// inputs bound in device memory), and the graph recorded for it with the
  /// result descriptors it produces.
  bool graphs = false;
  std::vector<std::vector<int64_t>> lastShapes;
  std::vector<const void *> lastDeviceInputs;
  void *graph = nullptr;
  std::vector<int64_t> graphResults;

  void dropGraph() {
    if (graph)
      model->device->destroy_graph(graph);
    graph = nullptr;
  }

  void releaseOutputs() {
    std::vector<void *> freed;
    for (Output &o : outputs) {
      // Two outputs may share one buffer.
      bool seen = false;
      for (void *p : freed)
        seen |= p == o.allocated;
      if (o.allocated && !seen) {
        if (model->device)
          model->device->release(o.allocated);
        else
          _mlir_memref_to_llvm_free(o.allocated);
        freed.push_back(o.allocated);
      }
      o = Output();
    }
  }
};

extern "C" {

const char *compress_last_error(void) { return lastError.c_str(); }

size_t compress_dtype_size(compress_dtype dtype) {
  switch (dtype) {
  case COMPRESS_FLOAT64:
  case COMPRESS_INT64:
  case COMPRESS_UINT64:
    return 8;
  case COMPRESS_FLOAT32:
  case COMPRESS_INT32:
  case COMPRESS_UINT32:
    return 4;
  case COMPRESS_FLOAT16:
  case COMPRESS_INT16:
  case COMPRESS_UINT16:
    return 2;
  default:
    return 1;
  }
}

compress_session *compress_session_create(const compress_model *model,
                                          const char *weightsPath, int numThreads) {
  lastError.clear();
  auto session = new compress_session();
  session->model = model;
  session->inputData.assign(model->num_inputs, nullptr);
  session->inputShapes.resize(model->num_inputs);
  session->inputOnDevice.assign(model->num_inputs, 0);
  session->outputs.resize(model->num_outputs);
  const char *graphs = getenv("COMPRESS_CUDA_GRAPHS");
  session->graphs = model->device && model->device->capture_begin &&
                    !(graphs && strcmp(graphs, "0") == 0);
  if (model->weights_bytes > 0) {
    int fd = open(weightsPath, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
      fail(std::string("cannot open weights file '") + weightsPath + "': " + strerror(errno));
      if (fd >= 0)
        close(fd);
      delete session;
      return nullptr;
    }
    // The file must be this artifact's: its size, then the hash its trailer
    // carries (a file of another build of the model may have the same size).
    uint64_t expected = model->weights_bytes + COMPRESS_WEIGHTS_TRAILER_BYTES;
    std::string mismatch;
    unsigned char trailer[COMPRESS_WEIGHTS_TRAILER_BYTES];
    if (uint64_t(st.st_size) != expected) {
      mismatch = "has " + std::to_string(st.st_size) + " bytes, model '" + model->name +
                 "' needs " + std::to_string(expected);
    } else if (pread(fd, trailer, sizeof(trailer), off_t(model->weights_bytes)) !=
                   ssize_t(sizeof(trailer)) ||
               memcmp(trailer, COMPRESS_WEIGHTS_MAGIC, 8) != 0) {
      mismatch = "is not a weights file of compress-compile (no trailer)";
    } else {
      uint64_t hash = 0;
      for (int i = 7; i >= 0; --i)
        hash = (hash << 8) | trailer[8 + i];
      if (hash != model->weights_hash)
        mismatch = "belongs to another build of model '" + std::string(model->name) +
                   "' (its weights differ from the ones this artifact was compiled with)";
    }
    if (!mismatch.empty()) {
      fail(std::string("weights file '") + weightsPath + "' " + mismatch);
      close(fd);
      delete session;
      return nullptr;
    }
    session->weights = mmap(nullptr, model->weights_bytes, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (session->weights == MAP_FAILED) {
      fail(std::string("cannot map weights file '") + weightsPath + "': " + strerror(errno));
      delete session;
      return nullptr;
    }
    session->weightsBytes = model->weights_bytes;
    if (model->device) {
      if (const char *error = model->device->upload(&session->deviceWeights, session->weights,
                                                    session->weightsBytes)) {
        fail(std::string("cannot upload the weights to the ") + model->device->kind +
             " device: " + error);
        compress_session_destroy(session);
        return nullptr;
      }
    }
  }
  // oneDNN runs on OpenMP threads.
  if (numThreads > 0)
    omp_set_num_threads(numThreads);
  return session;
}

namespace {
int bindInput(compress_session *s, const char *name, const void *data, const int64_t *shape,
              int rank, bool onDevice) {
  for (int i = 0; i < s->model->num_inputs; ++i) {
    const compress_tensor_info &info = s->model->inputs[i];
    if (strcmp(info.name, name) != 0)
      continue;
    if (rank != info.rank)
      return fail(std::string("input '") + name + "' has rank " + std::to_string(info.rank) +
                  ", got " + std::to_string(rank));
    for (int d = 0; d < rank; ++d)
      if (shape[d] < 0 || (info.dims[d] >= 0 && info.dims[d] != shape[d]))
        return fail(std::string("input '") + name + "' dimension " + std::to_string(d) +
                    " must be " + std::to_string(info.dims[d]) + ", got " +
                    std::to_string(shape[d]));
    s->inputData[i] = data;
    s->inputShapes[i].assign(shape, shape + rank);
    s->inputOnDevice[i] = onDevice;
    return 0;
  }
  return fail(std::string("model '") + s->model->name + "' has no input '" + name + "'");
}
} // namespace

int compress_session_set_input(compress_session *s, const char *name, const void *data,
                               const int64_t *shape, int rank) {
  return bindInput(s, name, data, shape, rank, /*onDevice=*/false);
}

int compress_session_set_device_input(compress_session *s, const char *name, const void *data,
                                      const int64_t *shape, int rank) {
  if (!s->model->device)
    return fail(std::string("model '") + s->model->name + "' runs in host memory: input '" +
                name + "' cannot be bound in device memory (use compress_session_set_input)");
  if (!data)
    return fail(std::string("input '") + name + "': no device memory given (null)");
  return bindInput(s, name, data, shape, rank, /*onDevice=*/true);
}

int compress_session_run(compress_session *s) {
  const compress_model *m = s->model;
  std::vector<Descriptor> inputs;
  std::vector<void *> inputPointers;
  inputs.reserve(m->num_inputs);
  for (int i = 0; i < m->num_inputs; ++i) {
    if (!s->inputData[i])
      return fail(std::string("input '") + m->inputs[i].name + "' is not set");
    inputs.emplace_back(const_cast<void *>(s->inputData[i]), s->inputShapes[i].data(),
                        m->inputs[i].rank);
  }
  // Code that works in device memory reads copies of the inputs there,
  // kept from run to run while their sizes stay.
  const compress_device_memory *device = m->device;
  if (device) {
    s->deviceInputs.resize(m->num_inputs, nullptr);
    s->deviceInputBytes.resize(m->num_inputs, 0);
    for (int i = 0; i < m->num_inputs; ++i) {
      uint64_t bytes = compress_dtype_size(m->inputs[i].dtype);
      for (int64_t extent : s->inputShapes[i])
        bytes *= uint64_t(extent);
      void *&copy = s->deviceInputs[i];
      const char *error = nullptr;
      if (s->inputOnDevice[i]) {
        // The run frees (and a graph reuses) the last run's results first.
        for (int o = 0; o < m->num_outputs; ++o)
          if (s->inputData[i] == s->outputs[o].base || s->inputData[i] == s->outputs[o].allocated)
            return fail(std::string("input '") + m->inputs[i].name + "' is output '" +
                        m->outputs[o].name + "' of this session's last run, which this run " +
                        "replaces: bind a copy");
        inputs[i].words[0] = inputs[i].words[1] = reinterpret_cast<int64_t>(s->inputData[i]);
        continue;
      }
      if (copy && s->deviceInputBytes[i] == bytes) {
        error = device->copy_in(copy, s->inputData[i], bytes);
      } else {
        s->dropGraph(); // it reads the buffer being replaced
        if (copy)
          device->release(copy);
        copy = nullptr;
        error = device->upload(&copy, s->inputData[i], bytes);
        s->deviceInputBytes[i] = copy ? bytes : 0;
      }
      if (error)
        return fail(std::string("cannot upload input '") + m->inputs[i].name + "': " + error);
      inputs[i].words[0] = inputs[i].words[1] = reinterpret_cast<int64_t>(copy);
    }
  }
  for (Descriptor &d : inputs)
    inputPointers.push_back(d.words.data());
  std::vector<std::vector<std::string>> dimNames(m->num_inputs);
  std::vector<compress::BoundInput> bound;
  for (int i = 0; i < m->num_inputs; ++i) {
    const compress_tensor_info &info = m->inputs[i];
    if (info.dim_names)
      dimNames[i].assign(info.dim_names, info.dim_names + info.rank);
    bound.push_back({info.name, s->inputShapes[i].data(), info.rank, &dimNames[i]});
  }
  std::string mismatch = compress::checkSymbolicDims(bound);
  if (!mismatch.empty())
    return fail(mismatch);
  int64_t weightsSize = int64_t(s->weightsBytes);
  Descriptor weights(!s->weightsBytes ? nullptr : device ? s->deviceWeights : s->weights,
                     &weightsSize, 1);

  size_t resultWords = 0;
  for (int i = 0; i < m->num_outputs; ++i)
    resultWords += 3 + 2 * m->outputs[i].rank;
  std::vector<int64_t> results(resultWords > 0 ? resultWords : 1);
  s->releaseOutputs();
  std::optional<compress::IndexError> indexError;
  {
    compress::RunLock lock;
    compress::takeIndexError(); // none may be left over from a failed call
    const char *deviceError = nullptr;
    // The first run of a set of input shapes (and device input addresses)
    // runs launch by launch (loading kernels, planning products, packing
    // weights: work a graph must not hold); the second is recorded and
    // replayed, and later ones replayed.
    std::vector<const void *> deviceInputs(m->num_inputs, nullptr);
    for (int i = 0; i < m->num_inputs; ++i)
      if (s->inputOnDevice[i])
        deviceInputs[i] = s->inputData[i];
    bool sameRun = s->inputShapes == s->lastShapes && deviceInputs == s->lastDeviceInputs;
    s->lastShapes = s->inputShapes;
    s->lastDeviceInputs = deviceInputs;
    if (!sameRun)
      s->dropGraph();
    // Compiled code, with an allocation it cannot get ending the call.
    struct Call {
      const compress_model *model;
      void *results, *weights;
      void **inputs;
    } call{m, results.data(), weights.words.data(), inputPointers.data()};
    auto invoke = [&]() {
      return compress::runCatchingOutOfMemory(
          [](void *context) {
            auto *c = static_cast<Call *>(context);
            c->model->invoke(c->results, c->weights, c->inputs);
          },
          &call);
    };
    size_t outOfMemory = 0;
    if (s->graphs && sameRun && !s->graph) {
      void *graph = nullptr;
      if (!device->capture_begin()) {
        outOfMemory = invoke();
        device->capture_end(&graph);
      }
      // A run that cannot be recorded never will be.
      s->graphs = graph != nullptr;
      s->graph = graph;
      if (graph)
        s->graphResults = results;
    }
    if (s->graph) {
      results = s->graphResults;
      deviceError = device->replay(s->graph);
    } else {
      outOfMemory = invoke();
      deviceError = device ? device->finish_run() : nullptr;
    }
    indexError = compress::takeIndexError();
    if (outOfMemory)
      return fail("out of memory: the model asked for a buffer of " + std::to_string(outOfMemory) +
                  " bytes");
    if (deviceError)
      return fail(std::string("the run on the ") + device->kind + " device failed: " +
                  deviceError);
  }

  size_t at = 0;
  for (int i = 0; i < m->num_outputs; ++i) {
    int rank = m->outputs[i].rank;
    const int64_t *w = results.data() + at;
    Output &o = s->outputs[i];
    o.allocated = reinterpret_cast<void *>(w[0]);
    o.shape.assign(w + 3, w + 3 + rank);
    o.strides.assign(w + 3 + rank, w + 3 + 2 * rank);
    size_t elem = compress_dtype_size(m->outputs[i].dtype);
    o.base = reinterpret_cast<const char *>(w[1]) + w[2] * elem;
    int64_t expect = 1;
    for (int d = rank - 1; d >= 0; --d) {
      o.dense &= o.shape[d] == 1 || o.strides[d] == expect;
      expect *= o.shape[d];
    }
    // A device result stays there until it is asked for.
    if (!device)
      materialize(o, elem, nullptr);
    at += 3 + 2 * rank;
  }
  if (indexError) {
    // The outputs were computed with index 0 in place of the bad one.
    s->releaseOutputs();
    const char *site = indexError->site >= 0 && indexError->site < m->num_index_sites
                           ? m->index_sites[indexError->site]
                           : "an index";
    return fail(compress::describeIndexError(*indexError, site));
  }
  return 0;
}

} // extern "C"

namespace {
/// The output `name` of the session's last run: its index, or -1 with the
/// error recorded (no such output, or no run yet).
int computedOutput(compress_session *s, const char *name) {
  for (int i = 0; i < s->model->num_outputs; ++i) {
    if (strcmp(s->model->outputs[i].name, name) != 0)
      continue;
    const Output &o = s->outputs[i];
    if (!o.base && o.shape.empty() && s->model->outputs[i].rank > 0)
      return fail(std::string("output '") + name + "' is not computed: run the session first");
    return i;
  }
  return fail(std::string("model '") + s->model->name + "' has no output '" + name + "'");
}
} // namespace

extern "C" {

int compress_session_get_output(compress_session *s, const char *name, const void **data,
                                const int64_t **shape, int *rank) {
  int i = computedOutput(s, name);
  if (i < 0)
    return -1;
  Output &o = s->outputs[i];
  if (!o.data)
    if (const char *error = materialize(o, compress_dtype_size(s->model->outputs[i].dtype),
                                        s->model->device))
      return fail(std::string("cannot read output '") + name + "' from the " +
                  s->model->device->kind + " device: " + error);
  *data = o.data;
  *shape = o.shape.data();
  *rank = s->model->outputs[i].rank;
  return 0;
}

int compress_session_get_device_output(compress_session *s, const char *name,
                                       const void **data, const int64_t **shape, int *rank) {
  if (!s->model->device)
    return fail(std::string("model '") + s->model->name + "' runs in host memory: it has no "
                "device outputs (use compress_session_get_output)");
  int i = computedOutput(s, name);
  if (i < 0)
    return -1;
  const Output &o = s->outputs[i];
  if (!o.dense)
    return fail(std::string("output '") + name + "' is strided in device memory: read it "
                "with compress_session_get_output");
  *data = o.base;
  *shape = o.shape.data();
  *rank = s->model->outputs[i].rank;
  return 0;
}

void compress_session_destroy(compress_session *s) {
  if (!s)
    return;
  s->releaseOutputs();
  s->dropGraph();
  for (void *copy : s->deviceInputs)
    if (copy)
      s->model->device->release(copy);
  if (s->deviceWeights)
    s->model->device->release(s->deviceWeights);
  // Packed copies of this session's weights must not outlive the mapping.
  compress_rt_forget_packed_weights();
  if (s->weights != MAP_FAILED)
    munmap(s->weights, s->weightsBytes);
  delete s;
}

} // extern "C"
