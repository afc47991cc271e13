// Runs a compiled CPU artifact (lib<name>.so and <name>.weights) from the
// host tools, through the artifact's own C session API.
#ifndef COMPRESS_LIB_ENGINE_ARTIFACTRUNNER_H
#define COMPRESS_LIB_ENGINE_ARTIFACTRUNNER_H

#include "lib/engine/CpuEngine.h"

namespace compress {

class ArtifactRunner {
public:
  /// Loads `library` (.../lib<name>.so) and maps <name>.weights beside it.
  static llvm::Expected<std::unique_ptr<ArtifactRunner>> load(llvm::StringRef library,
                                                              int numThreads);
  ~ArtifactRunner();

  const std::vector<TensorSignature> &inputs() const { return inputSigs; }
  const std::vector<TensorSignature> &outputs() const { return outputSigs; }
  llvm::Expected<std::vector<HostTensor>> run(llvm::ArrayRef<HostTensor> inputs);

private:
  struct Api;
  ArtifactRunner() = default;
  void *handle = nullptr;
  std::unique_ptr<Api> api;
  void *session = nullptr;
  std::vector<TensorSignature> inputSigs, outputSigs;
};

} // namespace compress

#endif
