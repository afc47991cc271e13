// The calibration service of the tools: runs the model on calibration sets
// for the compression passes (passes/compression/Calibration.h), in
// segments compiled once each.
#ifndef COMPRESS_LIB_CALIBRATION_CALIBRATOR_H
#define COMPRESS_LIB_CALIBRATION_CALIBRATOR_H

#include "lib/calibration/CalibrationSets.h"
#include "lib/engine/CpuEngine.h"
#include "passes/compression/Calibration.h"

namespace compress {

/// The calibration sets a tool read, offered to passes. Each pass run opens
/// a session (a SegmentedSession, in Calibrator.cpp) that measures as the
/// GPTQ reference does:
///
///  - the model is cut where a pass asks for statistics: a segment runs
///    from the stored *frontier* (the activations the rest of the model
///    still reads, with every layer before it as the pass has left it) to
///    the inputs of the next group of layers and the new frontier, so each
///    part of the model is compiled once, for the calibration data's shapes;
///  - segments take their weights as a buffer (never LLVM constants);
///  - memory holds one frontier per set, not every layer's activations.
///
/// Asking for a layer out of order, or after the pass changed something
/// the frontier was computed from, starts again from the model's inputs:
/// slower, never stale. Sets need not have the shapes the model is
/// compiled for (see the second constructor).
class Calibrator : public CalibrationSource {
public:
  explicit Calibrator(std::vector<InputSet> sets, EngineOptions engine = {})
      : sets(std::move(sets)), engine(engine) {}
  /// Sets of other shapes than the module the passes rewrite: segments run
  /// on `shapedForSets`, the same model imported for the sets' shapes, onto
  /// which sessions mirror each layer the pass rewrote (its constants
  /// cloned, its input and output those of the layer it replaces; layers
  /// correspond by their order in @main). `compiled` is the module the
  /// passes will rewrite, as it is now: what `shapedForSets` mirrors, so that
  /// a pass that rewrites layers without asking for statistics has its
  /// rewrites mirrored by the next session that asks.
  Calibrator(std::vector<InputSet> sets, EngineOptions engine,
             mlir::OwningOpRef<mlir::ModuleOp> shapedForSets, mlir::ModuleOp compiled);
  /// Sets read from `folder` when the first session opens, checked against
  /// that module's inputs (for compress-opt, which sees the module only
  /// inside its pass pipeline); a failure to read them is what every
  /// question to the session answers.
  static std::unique_ptr<Calibrator> fromFolder(std::string folder, EngineOptions engine = {});
  std::unique_ptr<CalibrationSession> open(mlir::ModuleOp module) override;

  /// Segments compiled so far, over every session (for tests and reports).
  unsigned segmentsCompiled() const { return compiled; }

  /// Compiles `module` (consumed) and counts it.
  llvm::Expected<std::unique_ptr<CpuEngine>> compile(mlir::ModuleOp module);
  const std::vector<InputSet> &inputSets() const { return sets; }
  /// The layers of the compiled module as `shapedForSets` last mirrored
  /// them, by position: kept here so that sessions update it in turn.
  llvm::SmallVector<mlir::Operation *> &mirroredLayers() { return mirrored; }

private:
  std::string folder; // sets still to read, when not empty
  std::vector<InputSet> sets;
  EngineOptions engine;
  mlir::OwningOpRef<mlir::ModuleOp> shapedForSets;
  llvm::SmallVector<mlir::Operation *> mirrored;
  unsigned compiled = 0;
};

} // namespace compress

#endif
