// Collects the statistics compression passes need by running the model on
// calibration inputs with the CPU engine.
#ifndef COMPRESS_LIB_CALIBRATION_CALIBRATOR_H
#define COMPRESS_LIB_CALIBRATION_CALIBRATOR_H

#include "lib/engine/CpuEngine.h"
#include "lib/support/HostTensor.h"
#include "passes/compression/Calibration.h"

#include "mlir/IR/BuiltinOps.h"

#include "llvm/ADT/DenseMap.h"

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
/// equal, ranks and static dimensions matching. Fails with one message naming
/// the set and the file or input at fault.
llvm::Expected<std::vector<InputSet>>
readCalibrationSets(llvm::StringRef dir, llvm::ArrayRef<TensorSignature> modelInputs);

/// Hessians of every linear layer's inputs, computed on first request: the
/// model is cloned with each layer's input added as an extra result,
/// compiled once, and run on each set in turn (one set's activations in
/// memory at a time).
class Calibrator : public CalibrationStatistics {
public:
  Calibrator(mlir::ModuleOp module, std::vector<InputSet> sets)
      : module(module), sets(std::move(sets)) {}
  llvm::Expected<std::vector<double>> hessian(LinearOp linear) override;

private:
  llvm::Error collect();
  mlir::ModuleOp module;
  std::vector<InputSet> sets;
  bool collected = false;
  llvm::DenseMap<mlir::Operation *, size_t> layerIndex;
  std::vector<std::vector<double>> hessians;
  std::vector<int64_t> rows;
};

} // namespace compress

#endif
