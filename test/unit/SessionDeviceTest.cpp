// Sessions of device models (compress_runtime.h), over a fake device whose
// memory is host memory and whose "graphs" replay what a recorded run did:
// when runs are recorded and replayed, that inputs reach the device buffers
// a graph reads, that results are read back only when asked for, and the
// device input/output calls with their errors. The CUDA device itself is
// checked on the GPU machine (bench/cuda/gpu_check_run.py).
#include "compress/compress_runtime.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

/// What the fake device saw.
struct FakeDevice {
  int uploads = 0, copiesIn = 0, downloads = 0, plainRuns = 0, recordings = 0, replays = 0;
  bool recording = false;
  bool refuseRecording = false;
  /// The recorded run: y = 2 x over n elements, from and to these buffers.
  const float *recordedIn = nullptr;
  float *recordedOut = nullptr;
  int64_t recordedCount = 0;
};
FakeDevice fake;

void *deviceAlloc(uint64_t bytes) { return std::malloc(bytes ? bytes : 1); }

/// The compiled code of a model y[n] = 2 x[n]: its result in new device
/// memory; while recording, only noted for the replays.
void invokeDouble(void *results, void *, void **inputs) {
  auto *x = static_cast<int64_t *>(inputs[0]);
  const float *in = reinterpret_cast<const float *>(x[1]) + x[2];
  int64_t n = x[3];
  auto *out = static_cast<float *>(deviceAlloc(n * sizeof(float)));
  if (fake.recording) {
    fake.recordedIn = in;
    fake.recordedOut = out;
    fake.recordedCount = n;
  } else {
    ++fake.plainRuns;
    for (int64_t i = 0; i < n; ++i)
      out[i] = 2 * in[i];
  }
  int64_t *w = static_cast<int64_t *>(results);
  w[0] = w[1] = reinterpret_cast<int64_t>(out);
  w[2] = 0;
  w[3] = n;
  w[4] = 1;
}

const compress_device_memory fakeMemory = {
    "fake",
    [](void **device, const void *host, uint64_t bytes) -> const char * {
      ++fake.uploads;
      *device = deviceAlloc(bytes);
      std::memcpy(*device, host, bytes);
      return nullptr;
    },
    [](void *host, const void *device, uint64_t bytes) -> const char * {
      ++fake.downloads;
      std::memcpy(host, device, bytes);
      return nullptr;
    },
    [](void *device) {
      // A replay's result is the recording's buffer, kept for the next one.
      if (device != fake.recordedOut)
        std::free(device);
    },
    []() -> const char * { return nullptr; },
    [](void *device, const void *host, uint64_t bytes) -> const char * {
      ++fake.copiesIn;
      std::memcpy(device, host, bytes);
      return nullptr;
    },
    []() -> const char * {
      // The last recording's result went with its graph.
      std::free(fake.recordedOut);
      fake.recordedOut = nullptr;
      fake.recording = true;
      return nullptr;
    },
    [](void **graph) -> const char * {
      fake.recording = false;
      if (fake.refuseRecording) {
        *graph = nullptr;
        return "refused";
      }
      ++fake.recordings;
      *graph = &fake;
      return nullptr;
    },
    [](void *) -> const char * {
      ++fake.replays;
      for (int64_t i = 0; i < fake.recordedCount; ++i)
        fake.recordedOut[i] = 2 * fake.recordedIn[i];
      return nullptr;
    },
    [](void *) {},
};

const int64_t kDims[] = {-1};
const compress_tensor_info kInput = {"x", COMPRESS_FLOAT32, 1, kDims, nullptr};
const compress_tensor_info kOutput = {"y", COMPRESS_FLOAT32, 1, kDims, nullptr};
const compress_model kModel = {"double", 1, &kInput, 1, &kOutput, 0, invokeDouble, 0, nullptr,
                               &fakeMemory};

class SessionDeviceTest : public ::testing::Test {
protected:
  void SetUp() override {
    fake = FakeDevice();
    unsetenv("COMPRESS_CUDA_GRAPHS");
  }
  void TearDown() override {
    compress_session_destroy(session);
    std::free(fake.recordedOut);
    unsetenv("COMPRESS_CUDA_GRAPHS");
  }
  void start() {
    session = compress_session_create(&kModel, "", 1);
    ASSERT_NE(session, nullptr) << compress_last_error();
  }
  /// Runs on `x` and returns y read back through compress_session_get_output.
  std::vector<float> run(std::vector<float> x) {
    int64_t shape[] = {int64_t(x.size())};
    EXPECT_EQ(compress_session_set_input(session, "x", x.data(), shape, 1), 0)
        << compress_last_error();
    EXPECT_EQ(compress_session_run(session), 0) << compress_last_error();
    const void *data = nullptr;
    const int64_t *dims = nullptr;
    int rank = 0;
    EXPECT_EQ(compress_session_get_output(session, "y", &data, &dims, &rank), 0)
        << compress_last_error();
    auto *y = static_cast<const float *>(data);
    return std::vector<float>(y, y + dims[0]);
  }
  compress_session *session = nullptr;
};

TEST_F(SessionDeviceTest, SecondRunOfSameShapesIsRecordedThenReplayed) {
  start();
  EXPECT_EQ(run({1, 2, 3}), (std::vector<float>{2, 4, 6}));
  EXPECT_EQ(fake.plainRuns, 1);
  EXPECT_EQ(fake.recordings, 0);
  // Recorded, then replayed on the new values copied into the same buffer.
  EXPECT_EQ(run({4, 5, 6}), (std::vector<float>{8, 10, 12}));
  EXPECT_EQ(run({7, 8, 9}), (std::vector<float>{14, 16, 18}));
  EXPECT_EQ(fake.recordings, 1);
  EXPECT_EQ(fake.replays, 2);
  EXPECT_EQ(fake.plainRuns, 1);
  EXPECT_EQ(fake.uploads, 1);
  EXPECT_EQ(fake.copiesIn, 2);
}

TEST_F(SessionDeviceTest, NewShapesDropTheGraph) {
  start();
  run({1, 2});
  run({1, 2});
  EXPECT_EQ(run({1, 2, 3}), (std::vector<float>{2, 4, 6}));
  EXPECT_EQ(fake.plainRuns, 2);
  EXPECT_EQ(fake.replays, 1);
  EXPECT_EQ(fake.uploads, 2); // the input buffer of the new size
  EXPECT_EQ(run({3, 2, 1}), (std::vector<float>{6, 4, 2}));
  EXPECT_EQ(fake.recordings, 2);
}

TEST_F(SessionDeviceTest, EnvironmentTurnsGraphsOff) {
  setenv("COMPRESS_CUDA_GRAPHS", "0", 1);
  start();
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(run({1, float(i)}), (std::vector<float>{2, 2 * float(i)}));
  EXPECT_EQ(fake.recordings, 0);
  EXPECT_EQ(fake.plainRuns, 3);
}

TEST_F(SessionDeviceTest, ARunThatCannotBeRecordedRunsPlainlyFromThenOn) {
  fake.refuseRecording = true;
  start();
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(run({float(i)}), (std::vector<float>{2 * float(i)}));
  EXPECT_EQ(fake.plainRuns, 3);
  EXPECT_EQ(fake.replays, 0);
}

TEST_F(SessionDeviceTest, ResultsAreReadBackOnlyWhenAskedFor) {
  start();
  std::vector<float> x = {1, 2};
  int64_t shape[] = {2};
  ASSERT_EQ(compress_session_set_input(session, "x", x.data(), shape, 1), 0);
  ASSERT_EQ(compress_session_run(session), 0);
  EXPECT_EQ(fake.downloads, 0);
  const void *device = nullptr;
  const int64_t *dims = nullptr;
  int rank = 0;
  ASSERT_EQ(compress_session_get_device_output(session, "y", &device, &dims, &rank), 0);
  EXPECT_EQ(static_cast<const float *>(device)[1], 4);
  EXPECT_EQ(fake.downloads, 0);
  const void *host = nullptr;
  ASSERT_EQ(compress_session_get_output(session, "y", &host, &dims, &rank), 0);
  ASSERT_EQ(compress_session_get_output(session, "y", &host, &dims, &rank), 0);
  EXPECT_EQ(fake.downloads, 1);
  EXPECT_NE(host, device);
}

TEST_F(SessionDeviceTest, DeviceInputsAreReadInPlace) {
  start();
  float *onDevice = static_cast<float *>(deviceAlloc(2 * sizeof(float)));
  onDevice[0] = 3;
  onDevice[1] = 5;
  int64_t shape[] = {2};
  ASSERT_EQ(compress_session_set_device_input(session, "x", onDevice, shape, 1), 0);
  for (int i = 0; i < 3; ++i) {
    onDevice[0] = float(i);
    ASSERT_EQ(compress_session_run(session), 0) << compress_last_error();
    const void *data = nullptr;
    const int64_t *dims = nullptr;
    int rank = 0;
    ASSERT_EQ(compress_session_get_output(session, "y", &data, &dims, &rank), 0);
    EXPECT_EQ(static_cast<const float *>(data)[0], 2 * float(i));
  }
  EXPECT_EQ(fake.uploads + fake.copiesIn, 0);
  EXPECT_EQ(fake.replays, 2);
  std::free(onDevice);
}

TEST_F(SessionDeviceTest, LastOutputCannotBeTheNextInput) {
  start();
  run({1, 2});
  const void *device = nullptr;
  const int64_t *dims = nullptr;
  int rank = 0;
  ASSERT_EQ(compress_session_get_device_output(session, "y", &device, &dims, &rank), 0);
  ASSERT_EQ(compress_session_set_device_input(session, "x", device, dims, 1), 0);
  EXPECT_EQ(compress_session_run(session), -1);
  EXPECT_STREQ(compress_last_error(), "input 'x' is output 'y' of this session's last run, which "
                                      "this run replaces: bind a copy");
}

TEST_F(SessionDeviceTest, HostModelsHaveNoDeviceInputsOrOutputs) {
  compress_model hostModel = kModel;
  hostModel.device = nullptr;
  compress_session *host = compress_session_create(&hostModel, "", 1);
  ASSERT_NE(host, nullptr);
  float x[1] = {1};
  int64_t shape[] = {1};
  EXPECT_EQ(compress_session_set_device_input(host, "x", x, shape, 1), -1);
  EXPECT_STREQ(compress_last_error(), "model 'double' runs in host memory: input 'x' cannot be "
                                      "bound in device memory (use compress_session_set_input)");
  const void *data = nullptr;
  const int64_t *dims = nullptr;
  int rank = 0;
  EXPECT_EQ(compress_session_get_device_output(host, "y", &data, &dims, &rank), -1);
  EXPECT_STREQ(compress_last_error(), "model 'double' runs in host memory: it has no device "
                                      "outputs (use compress_session_get_output)");
  compress_session_destroy(host);
}

} // namespace
