// Calibration statistics for compression passes: what the activations of a
// model look like on the user's calibration data.
//
// Passes cannot run models; a tool that can (lib/calibration) attaches a
// CalibrationSource to the context, and a pass asks for the `Calibration`
// analysis of its module:
//
//   Calibration &calibration = getAnalysis<Calibration>();
//   if (calibration.available())
//     auto stats = calibration->inputStatistics(layer);   // Hessian, norms
//
// A session lives as long as the analysis (one pass run), measures lazily
// and in order: statistics of a layer are taken with every layer before it
// as the pass has left it so far (GPTQ's layer-by-layer protocol).
#ifndef COMPRESS_PASSES_COMPRESSION_CALIBRATION_H
#define COMPRESS_PASSES_COMPRESSION_CALIBRATION_H

#include "dialects/compress/IR/CompressOps.h"
#include "lib/support/HostTensor.h"

#include "mlir/IR/BuiltinOps.h"

#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/Support/Error.h"

#include <memory>
#include <vector>

namespace compress {

/// The rows (tokens) reaching a layer's input over every calibration set:
/// for an input [..., K], each of its prod(...) rows is one sample of K
/// features.
struct InputStatistics {
  int64_t rows = 0, features = 0;
  /// H = (2 / rows) X^T X, [K, K] row-major: the Hessian of GPTQ and
  /// SparseGPT (the Gram matrix of the inputs up to a factor).
  std::vector<double> hessian;
  /// Per input feature j: ||X_j||_2 (Wanda's activation norm), the mean of
  /// x_j and max |x_j|.
  std::vector<double> l2Norm, mean, maxAbs;
};

/// Runs a module on the calibration sets for one pass.
class CalibrationSession {
public:
  virtual ~CalibrationSession();

  /// How many calibration sets there are.
  virtual size_t numSets() const = 0;

  /// Statistics of the input of `layer`, whose input's last dimension holds
  /// its features (linear layers, quantized or not). Measured on the
  /// module as it is when first asked: every layer before `layer` in the
  /// module's order is as the pass left it. Layers asked in the module's
  /// order cost one compiled segment of the model each group of layers
  /// that read one activation (a block's query, key and value projections
  /// come together): time is linear in depth.
  virtual llvm::Expected<const InputStatistics &> inputStatistics(CompressibleLayer layer) = 0;

  /// Runs the module as it is now on each set in turn, handing `visit` the
  /// contents of `values` (results of ops at the top level of @main, or its
  /// arguments) for that set: one set's values are in memory at a time, and
  /// `visit` reduces them as it needs (a block's input and output, per-token
  /// norms, the model's outputs).
  using ValueVisitor =
      llvm::function_ref<llvm::Error(size_t set, llvm::ArrayRef<HostTensor> values)>;
  virtual llvm::Error visitValues(llvm::ArrayRef<mlir::Value> values, ValueVisitor visit) = 0;

  /// visitValues on the values @main returns.
  llvm::Error visitModelOutputs(mlir::ModuleOp module, ValueVisitor visit);
};

/// Calibration data a tool offers the passes it runs.
class CalibrationSource {
public:
  virtual ~CalibrationSource();
  /// A session measuring `module` (which the pass is about to rewrite).
  virtual std::unique_ptr<CalibrationSession> open(mlir::ModuleOp module) = 0;
};

/// Offers `source` (owned by the caller; null withdraws it) to the passes
/// run on modules of `context`.
void setCalibrationSource(mlir::MLIRContext *context, CalibrationSource *source);

/// The analysis passes ask for. Without calibration data it is unavailable.
class Calibration {
public:
  explicit Calibration(mlir::Operation *module);
  bool available() const { return session != nullptr; }
  CalibrationSession *operator->() { return session.get(); }

private:
  std::unique_ptr<CalibrationSession> session;
};

} // namespace compress

#endif
