// How compression passes get statistics of the activations their layers see
// on calibration data. Passes cannot run models; a tool that can (see
// lib/calibration) installs a provider before running them.
#ifndef COMPRESS_PASSES_COMPRESSION_CALIBRATION_H
#define COMPRESS_PASSES_COMPRESSION_CALIBRATION_H

#include "dialects/compress/IR/CompressOps.h"

#include "llvm/Support/Error.h"

#include <vector>

namespace compress {

class CalibrationStatistics {
public:
  virtual ~CalibrationStatistics() = default;
  /// H = (2 / n) * sum over the n calibration rows x reaching `linear` of
  /// x x^T: a [K, K] row-major matrix, K the layer's input features.
  virtual llvm::Expected<std::vector<double>> hessian(LinearOp linear) = 0;
};

/// The provider passes use; null when no calibration data was given.
CalibrationStatistics *getCalibrationStatistics();
/// Installs `statistics` (owned by the caller) for the passes that follow.
void setCalibrationStatistics(CalibrationStatistics *statistics);

} // namespace compress

#endif
