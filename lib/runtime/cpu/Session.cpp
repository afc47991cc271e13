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
  const void *data = nullptr;
  std::vector<int64_t> shape;
};

} // namespace

struct compress_session {
  const compress_model *model;
  void *weights = MAP_FAILED;
  size_t weightsBytes = 0;
  /// The weights' copy in the model's device memory, if it has one.
  void *deviceWeights = nullptr;
  std::vector<const void *> inputData;
  std::vector<std::vector<int64_t>> inputShapes;
  std::vector<Output> outputs;

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
  session->outputs.resize(model->num_outputs);
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
    if (uint64_t(st.st_size) != model->weights_bytes) {
      fail(std::string("weights file '") + weightsPath + "' has " +
           std::to_string(st.st_size) + " bytes, model '" + model->name + "' needs " +
           std::to_string(model->weights_bytes));
      close(fd);
      delete session;
      return nullptr;
    }
    session->weights = mmap(nullptr, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (session->weights == MAP_FAILED) {
      fail(std::string("cannot map weights file '") + weightsPath + "': " + strerror(errno));
      delete session;
      return nullptr;
    }
    session->weightsBytes = st.st_size;
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

int compress_session_set_input(compress_session *s, const char *name, const void *data,
                               const int64_t *shape, int rank) {
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
    return 0;
  }
  return fail(std::string("model '") + s->model->name + "' has no input '" + name + "'");
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
  // Code that works in device memory reads copies of the inputs there.
  const compress_device_memory *device = m->device;
  std::vector<void *> deviceInputs;
  auto releaseInputs = [&] {
    for (void *p : deviceInputs)
      device->release(p);
  };
  if (device)
    for (int i = 0; i < m->num_inputs; ++i) {
      uint64_t bytes = compress_dtype_size(m->inputs[i].dtype);
      for (int64_t extent : s->inputShapes[i])
        bytes *= uint64_t(extent);
      void *copy = nullptr;
      if (const char *error = device->upload(&copy, s->inputData[i], bytes)) {
        releaseInputs();
        return fail(std::string("cannot upload input '") + m->inputs[i].name + "': " + error);
      }
      deviceInputs.push_back(copy);
      inputs[i].words[0] = inputs[i].words[1] = reinterpret_cast<int64_t>(copy);
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
    m->invoke(results.data(), weights.words.data(), inputPointers.data());
    const char *deviceError = device ? device->finish_run() : nullptr;
    indexError = compress::takeIndexError();
    if (device)
      releaseInputs();
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
    size_t elem = compress_dtype_size(m->outputs[i].dtype);
    const char *base = reinterpret_cast<const char *>(w[1]) + w[2] * elem;
    // Results are normally dense; copy the rare strided one into place.
    bool dense = true;
    int64_t expect = 1, count = 1;
    for (int d = rank - 1; d >= 0; --d) {
      dense &= o.shape[d] == 1 || w[3 + rank + d] == expect;
      expect *= o.shape[d];
    }
    count = expect;
    if (device && count > 0) {
      // The span the result covers comes to the host first.
      int64_t span = 1;
      for (int d = 0; d < rank; ++d)
        span += (o.shape[d] - 1) * w[3 + rank + d];
      o.staged.resize(span * elem);
      if (const char *error = device->download(o.staged.data(), base, o.staged.size())) {
        s->releaseOutputs();
        return fail(std::string("cannot read output '") + m->outputs[i].name +
                    "' from the device: " + error);
      }
      base = o.staged.data();
    }
    if (dense && !device) {
      o.data = base;
    } else if (dense) {
      o.staged.resize(count * elem);
      o.data = o.staged.data();
    } else {
      o.contiguous.resize(count * elem);
      std::vector<int64_t> index(rank, 0);
      for (int64_t n = 0; n < count; ++n) {
        int64_t off = 0;
        for (int d = 0; d < rank; ++d)
          off += index[d] * w[3 + rank + d];
        memcpy(o.contiguous.data() + n * elem, base + off * elem, elem);
        for (int d = rank - 1; d >= 0; --d) {
          if (++index[d] < o.shape[d])
            break;
          index[d] = 0;
        }
      }
      o.data = o.contiguous.data();
    }
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

int compress_session_get_output(compress_session *s, const char *name, const void **data,
                                const int64_t **shape, int *rank) {
  for (int i = 0; i < s->model->num_outputs; ++i) {
    if (strcmp(s->model->outputs[i].name, name) != 0)
      continue;
    if (!s->outputs[i].data && s->outputs[i].shape.empty() && s->model->outputs[i].rank > 0)
      return fail(std::string("output '") + name + "' is not computed: run the session first");
    *data = s->outputs[i].data;
    *shape = s->outputs[i].shape.data();
    *rank = s->model->outputs[i].rank;
    return 0;
  }
  return fail(std::string("model '") + s->model->name + "' has no output '" + name + "'");
}

void compress_session_destroy(compress_session *s) {
  if (!s)
    return;
  s->releaseOutputs();
  if (s->deviceWeights)
    s->model->device->release(s->deviceWeights);
  // Packed copies of this session's weights must not outlive the mapping.
  compress_rt_forget_packed_weights();
  if (s->weights != MAP_FAILED)
    munmap(s->weights, s->weightsBytes);
  delete s;
}

} // extern "C"
