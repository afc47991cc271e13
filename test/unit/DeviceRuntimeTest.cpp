// The CUDA runtime's table for sessions (compress_cuda_device_memory) where
// there is no driver, as on CI: every call fails with one message and no
// call crashes. The same calls with a driver run on the GPU machine
// (bench/cuda/gpu_check_run.py).
#include "compress/compress_runtime.h"

#include <gtest/gtest.h>

#include <string>

extern "C" const compress_device_memory compress_cuda_device_memory;

namespace {

bool haveDriver() {
  const char *error = compress_cuda_device_memory.capture_begin();
  if (!error) {
    void *graph = nullptr;
    compress_cuda_device_memory.capture_end(&graph);
    compress_cuda_device_memory.destroy_graph(graph);
  }
  return !error || std::string(error).find("cannot load the CUDA driver") == std::string::npos;
}

TEST(DeviceRuntimeTest, GraphCallsWithoutADriverFailWithAMessage) {
  if (haveDriver())
    GTEST_SKIP() << "a CUDA driver is installed";
  const char *error = compress_cuda_device_memory.capture_begin();
  ASSERT_NE(error, nullptr);
  EXPECT_NE(std::string(error).find("cannot load the CUDA driver"), std::string::npos) << error;
  // Nothing is being recorded: no graph, and a reason.
  void *graph = &graph;
  error = compress_cuda_device_memory.capture_end(&graph);
  ASSERT_NE(error, nullptr);
  EXPECT_EQ(std::string(error), "no CUDA graph is being recorded");
  EXPECT_EQ(graph, nullptr);
  compress_cuda_device_memory.destroy_graph(nullptr);
  int host = 7;
  error = compress_cuda_device_memory.copy_in(nullptr, &host, sizeof(host));
  ASSERT_NE(error, nullptr);
  EXPECT_NE(std::string(error).find("cannot load the CUDA driver"), std::string::npos) << error;
}

} // namespace
