// Fuzz target: the calibration-set reader (lib/calibration/CalibrationSets.cpp)
// on arbitrary bytes as one set of a model with inputs `x` (float32 [?, 4])
// and `ids` (int64 [2]): sets that pass are checked tensors, anything else an
// error. The first byte picks the form: a folder of NAME.npy files, an .npz
// archive, or an ONNX test data folder of input_K.pb TensorProtos. The next
// two (little-endian) say where the rest splits into the folder's two files.
#include "FuzzInput.h"

#include "lib/calibration/CalibrationSets.h"

#include "llvm/Support/FileSystem.h"

#include <algorithm>
#include <cstdlib>

namespace {

std::vector<compress::TensorSignature> modelInputs() {
  return {{"x", compress::ElementKind::F32, {-1, 4}, {}},
          {"ids", compress::ElementKind::I64, {2}, {}}};
}

/// Writes two files of one set folder from `data` split at `cut`.
void writeSplit(const std::string &folder, const char *first, const char *second,
                const uint8_t *data, size_t size, size_t cut) {
  llvm::sys::fs::create_directories(compress::fuzz::scratchFolder() + "/" + folder);
  cut = std::min(cut, size);
  compress::fuzz::writeInput((folder + "/" + first).c_str(), data, cut);
  compress::fuzz::writeInput((folder + "/" + second).c_str(), data + cut, size - cut);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3)
    return 0;
  std::string root = compress::fuzz::scratchFolder() + "/sets";
  llvm::sys::fs::remove_directories(root);
  llvm::sys::fs::create_directories(root);
  size_t cut = size_t(data[1]) | size_t(data[2]) << 8;
  const uint8_t *rest = data + 3;
  size -= 3;
  switch (data[0] % 3) {
  case 0:
    writeSplit("sets/set_0", "x.npy", "ids.npy", rest, size, cut);
    break;
  case 1:
    compress::fuzz::writeInput("sets/set_0.npz", rest, size);
    break;
  default:
    writeSplit("sets/test_data_set_0", "input_0.pb", "input_1.pb", rest, size, cut);
    break;
  }
  auto sets = compress::readCalibrationSets(root, modelInputs());
  if (!sets) {
    llvm::consumeError(sets.takeError());
    return 0;
  }
  // What passed the checks is what the model takes.
  for (const compress::InputSet &set : *sets) {
    if (set.inputs.size() != 2 || set.inputs[0].kind != compress::ElementKind::F32 ||
        set.inputs[1].kind != compress::ElementKind::I64 || set.inputs[0].shape.size() != 2 ||
        set.inputs[0].shape[1] != 4 || set.inputs[1].shape != std::vector<int64_t>{2})
      abort();
    for (const compress::HostTensor &tensor : set.inputs)
      if (tensor.data.size() != size_t(tensor.numElements()) * compress::elementSize(tensor.kind))
        abort();
  }
  return 0;
}
