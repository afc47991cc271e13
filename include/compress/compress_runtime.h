/* The C API of a CompressIR artifact: create a session from the model's
 * weights file, bind inputs by name, run, read outputs by name, destroy.
 * Each artifact's own header declares its model descriptor, e.g.
 *   extern const compress_model minilm_model;
 * Link lib<model>.so, or lib<model>.a with libcompress_runtime_cpu.a,
 * -lomp, -ldnnl, -lstdc++ and -lm (libomp before libdnnl: one OpenMP runtime
 * serves both); a CUDA artifact's lib<model>.a also with
 * libcompress_runtime_cuda.a and -ldl (the CUDA driver is loaded when the
 * first session starts). No MLIR or LLVM library is needed. */
#ifndef COMPRESS_RUNTIME_H
#define COMPRESS_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  COMPRESS_FLOAT32, COMPRESS_FLOAT64, COMPRESS_FLOAT16,
  COMPRESS_INT8, COMPRESS_INT16, COMPRESS_INT32, COMPRESS_INT64,
  COMPRESS_UINT8, COMPRESS_UINT16, COMPRESS_UINT32, COMPRESS_UINT64,
  COMPRESS_BOOL
} compress_dtype;

/* One input or output: its ONNX name, element type and shape (-1 where the
 * dimension is only known when the model runs), and for each dimension the
 * name of its symbolic size ("" for none; NULL when no dimension has one):
 * inputs' dimensions of one name must have one size in a run. */
typedef struct {
  const char *name;
  compress_dtype dtype;
  int rank;
  const int64_t *dims;
  const char *const *dim_names;
} compress_tensor_info;

/* Device memory a model's compiled code works in (a CUDA artifact's GPU):
 * sessions upload the weights once and the inputs each run, and read the
 * results back. Each call returns NULL or what failed. */
typedef struct {
  const char *kind; /* "cuda" */
  const char *(*upload)(void **device, const void *host, uint64_t bytes);
  const char *(*download)(void *host, const void *device, uint64_t bytes);
  void (*release)(void *device);
  /* Waits for a run's work; the first failure of its compiled code. */
  const char *(*finish_run)(void);
  /* Copies into device memory that upload() gave. */
  const char *(*copy_in)(void *device, const void *host, uint64_t bytes);
  /* Graphs: the work of one run recorded once (nothing runs between
   * capture_begin and capture_end, which gives NULL and the reason when
   * the run cannot be replayed) and replayed as one launch, waited for. */
  const char *(*capture_begin)(void);
  const char *(*capture_end)(void **graph);
  const char *(*replay)(void *graph);
  void (*destroy_graph)(void *graph);
} compress_device_memory;

/* A compiled model, as its artifact describes it. */
typedef struct compress_model {
  const char *name;
  int num_inputs;
  const compress_tensor_info *inputs;
  int num_outputs;
  const compress_tensor_info *outputs;
  uint64_t weights_bytes;
  /* Calls the compiled code: `results` receives one memref descriptor per
   * output; `weights` and `inputs` point at memref descriptors. */
  void (*invoke)(void *results, void *weights, void **inputs);
  /* What each run-time index check guards ("node 'x' (Gather)"), by number:
   * a run that meets an out-of-range index fails naming it. */
  int num_index_sites;
  const char *const *index_sites;
  /* NULL: the code works in host memory (CPU artifacts). */
  const compress_device_memory *device;
  /* The weights file's identity: a hash of its `weights_bytes` of weights,
   * also in its last COMPRESS_WEIGHTS_TRAILER_BYTES (the magic, then the
   * hash, little-endian), which a session checks before it maps the file. */
  uint64_t weights_hash;
} compress_model;

/* A weights file ends with this magic and the 8-byte hash of its weights. */
#define COMPRESS_WEIGHTS_MAGIC "CMPRWGT1"
#define COMPRESS_WEIGHTS_TRAILER_BYTES 16

typedef struct compress_session compress_session;

/* Maps the weights file and sets the number of threads (0: all cores).
 * Returns NULL on error; compress_last_error() says why. */
compress_session *compress_session_create(const compress_model *model,
                                          const char *weights_path,
                                          int num_threads);

/* Binds an input by name. The data is read, not copied, when the session
 * runs, so it must stay valid until then. Its element type is the one the
 * model declares. Returns 0, or -1 on error. */
int compress_session_set_input(compress_session *session, const char *name,
                               const void *data, const int64_t *shape,
                               int rank);

/* Runs the model on the bound inputs. Returns 0, or -1 on error: inputs
 * whose shared symbolic dimensions disagree, an index out of range (a token
 * id beyond the vocabulary), ... Runs of all sessions of a process are
 * serialised (each uses every thread it was given). A CUDA artifact's
 * session records the second run of the same input shapes as a CUDA graph
 * and replays it while the shapes stay (one launch a run; environment
 * COMPRESS_CUDA_GRAPHS=0 turns this off); a model whose host code reads
 * device memory (a shape computed at run time) always runs launch by
 * launch. */
int compress_session_run(compress_session *session);

/* The output of the last run: data, shape and rank, valid until the next
 * run or the session's end (a device model's output is read back from the
 * device at the first call). Returns 0, or -1 on error. */
int compress_session_get_output(compress_session *session, const char *name,
                                const void **data, const int64_t **shape,
                                int *rank);

/* Device models (CUDA artifacts) only: binds an input that is already in
 * the device's memory (e.g. another session's device output, or a tensor
 * of a framework sharing the device's primary context). It is read in
 * place, so it must stay valid and unchanged until the run ends; an output
 * of the same session's last run will not do (the run replaces it).
 * Returns 0, or -1 on error. */
int compress_session_set_device_input(compress_session *session, const char *name,
                                      const void *device_data, const int64_t *shape,
                                      int rank);

/* Device models only: the output of the last run in device memory, without
 * reading it back (compress_session_get_output reads it back on its first
 * call after a run). Valid until the next run or the session's end. Returns
 * 0, or -1 on error (a strided result: read it with get_output). */
int compress_session_get_device_output(compress_session *session, const char *name,
                                       const void **device_data, const int64_t **shape,
                                       int *rank);

void compress_session_destroy(compress_session *session);

/* The last error of this thread, or "" when there was none. */
const char *compress_last_error(void);

/* Size in bytes of one element. */
size_t compress_dtype_size(compress_dtype dtype);

/* CUDA artifacts only: the GPU their sessions use (default 0), chosen before
 * the first session starts. Returns 0, or -1 when the GPU is already in use
 * as another device. */
int compress_cuda_select_device(int ordinal);

#ifdef __cplusplus
}
#endif

#endif /* COMPRESS_RUNTIME_H */
