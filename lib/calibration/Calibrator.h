// Collects the statistics compression passes need by running the model on
// calibration inputs with the CPU engine.
#ifndef COMPRESS_LIB_CALIBRATION_CALIBRATOR_H
#define COMPRESS_LIB_CALIBRATION_CALIBRATOR_H

#include "lib/support/HostTensor.h"
#include "passes/compression/Calibration.h"

#include "mlir/IR/BuiltinOps.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"

namespace compress {

/// One calibration input set: a tensor per model input name.
using InputSet = llvm::StringMap<HostTensor>;

/// Reads calibration sets from `dir`: one subfolder per set, holding
/// NAME.npy for each model input NAME. Fails naming the folder or file.
llvm::Expected<std::vector<InputSet>> readCalibrationSets(llvm::StringRef dir);

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
