// Calibration input sets: reading them from a folder and checking them
// against the model's inputs before anything is compiled.
#ifndef COMPRESS_LIB_CALIBRATION_CALIBRATIONSETS_H
#define COMPRESS_LIB_CALIBRATION_CALIBRATIONSETS_H

#include "lib/support/HostTensor.h"

#include "llvm/Support/Error.h"

namespace compress {

/// One calibration input set, matched to the model: a tensor per model
/// input, in the model's order, and the name of the folder or file it came
/// from, for messages.
struct InputSet {
  std::string name;
  std::vector<HostTensor> inputs;
};

/// Reads the calibration sets in `dir`, in order of name. `dir` holds either
/// set folders or .npz files, one set each:
///  - a folder of NAME.npy files, one per model input NAME;
///  - a NAME.npz file (numpy.savez or savez_compressed) of the same arrays;
///  - an ONNX test data folder (test_data_set_N) of input_K.pb files, each a
///    serialized TensorProto for the model input it names or, unnamed, for
///    the model's K-th input (`modelInputs` gives the order).
/// Every set is checked against `modelInputs` here, before anything is
/// compiled or run: each model input present and no other, element types
/// equal, ranks and static dimensions matching, no NaN or infinity. Fails
/// with one message naming the set and the file or input at fault.
llvm::Expected<std::vector<InputSet>>
readCalibrationSets(llvm::StringRef dir, llvm::ArrayRef<TensorSignature> modelInputs);

/// "calibration set 'SET': WHAT".
llvm::Error setError(llvm::StringRef set, const llvm::Twine &what);

} // namespace compress

#endif
