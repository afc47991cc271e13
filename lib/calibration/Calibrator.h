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

/// Hessians of linear layers' inputs, computed layer by layer as the GPTQ
/// reference does: the Hessian of a layer is taken on the module as it is
/// when a pass first asks for it, so every layer the pass compressed before
/// it (in order of the module) is already compressed in the run that
/// measures its input. One request compiles a clone of the current module
/// that returns the inputs of the requested layer and of every other
/// pending layer whose input no pending layer feeds (the query, key and
/// value projections of a transformer block come together), and runs it on
/// each set in turn: memory holds one set's activations of those layers.
class Calibrator : public CalibrationStatistics {
public:
  Calibrator(mlir::ModuleOp module, std::vector<InputSet> sets)
      : module(module), sets(std::move(sets)) {}
  llvm::Expected<std::vector<double>> hessian(LinearOp linear) override;
  /// How many clones were compiled so far (one per group of layers).
  unsigned compilations() const { return compiledClones; }

private:
  llvm::Error collect(LinearOp requested);
  mlir::ModuleOp module;
  std::vector<InputSet> sets;
  /// Hessians measured so far, by layer. Entries of layers no longer in the
  /// module are dropped before each lookup, so that a layer a pass creates
  /// later at a freed address never finds a stale entry.
  llvm::DenseMap<mlir::Operation *, std::vector<double>> hessians;
  unsigned compiledClones = 0;
};

} // namespace compress

#endif
