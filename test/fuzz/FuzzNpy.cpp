// Fuzz target: the .npy and .npz readers (inputs, outputs and calibration
// sets) on arbitrary bytes: a tensor whose bytes match its shape, or an error.
// The first byte picks the reader.
#include "FuzzInput.h"

#include "lib/support/HostTensor.h"

#include <cstdlib>

namespace {
void checkTensor(const compress::HostTensor &tensor) {
  if (tensor.data.size() != size_t(tensor.numElements()) * compress::elementSize(tensor.kind))
    abort();
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  bool npz = data[0] & 1;
  std::string path = compress::fuzz::writeInput(npz ? "input.npz" : "input.npy", data + 1, size - 1);
  if (npz) {
    auto arrays = compress::readNpz(path);
    if (!arrays) {
      llvm::consumeError(arrays.takeError());
      return 0;
    }
    for (const compress::NamedTensor &array : *arrays)
      checkTensor(array.tensor);
    return 0;
  }
  auto tensor = compress::readNpy(path);
  if (!tensor) {
    llvm::consumeError(tensor.takeError());
    return 0;
  }
  checkTensor(*tensor);
  return 0;
}
