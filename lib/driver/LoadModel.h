// What the command-line tools share: a context with every dialect, loading a
// model from .onnx (imported) or .mlir (parsed) with one error, and running
// compression passes with calibration data.
#ifndef COMPRESS_LIB_DRIVER_LOADMODEL_H
#define COMPRESS_LIB_DRIVER_LOADMODEL_H

#include "lib/driver/ToolOptions.h"
#include "lib/engine/CpuEngine.h"
#include "lib/importer/onnx/Importer.h"

#include "mlir/IR/MLIRContext.h"

#include "llvm/Support/Error.h"

#include <memory>

namespace compress {

/// A context that knows upstream's dialects and extensions, ours and those
/// of the loaded dialect plugins.
std::unique_ptr<mlir::MLIRContext> createToolContext(const PluginOptions &plugins);

/// Imports `path` when it ends in .onnx (with `options`), else parses it as
/// MLIR. Fails with the first error diagnostic, which names what is wrong.
llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>>
loadModel(mlir::MLIRContext &context, llvm::StringRef path, const OnnxImportOptions &options);

/// Runs the compression passes in `pipeline` (pass-pipeline syntax) on
/// `module`; with `calibrationDir`, statistics for passes that need them
/// come from running the model on the input sets there, which are checked
/// against the model's inputs before any pass runs.
/// `engine` says how calibration segments are compiled and run. When
/// `modelPath` (what `module` was loaded from) is an ONNX file, calibration sets
/// whose shapes differ from the module's (512-token windows for a model
/// compiled for 128 tokens) are run on a second import of the model for
/// their shapes, onto which the passes' rewrites of layers are mirrored.
llvm::Error runCompressionPasses(mlir::ModuleOp module, llvm::StringRef pipeline,
                                 llvm::StringRef calibrationDir, const EngineOptions &engine = {},
                                 llvm::StringRef modelPath = "");

/// runCompressionPasses with `compression`'s pipeline and calibration, then
/// `report.finish` with the time the passes took (their summary on stderr,
/// the --report-html page into `pending`), the page titled `title`.
llvm::Error runReportedCompressionPasses(mlir::ModuleOp module,
                                         const CompressionOptions &compression,
                                         const ReportOptions &report, const EngineOptions &engine,
                                         llvm::StringRef modelPath, PendingOutputs &pending,
                                         llvm::StringRef title);

} // namespace compress

#endif
