// Fuzz target: the ONNX loader and importer on arbitrary bytes. Every input
// must end in a module that verifies or in one error diagnostic: a crash, a
// sanitizer report, a hang or an allocation beyond libFuzzer's limit is a
// bug. Seeds: the ONNX backend suite's models (scripts/fuzz.sh).
#include "FuzzInput.h"

#include "lib/importer/onnx/Importer.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string path = compress::fuzz::writeInput("model.onnx", data, size);
  mlir::MLIRContext context(mlir::MLIRContext::Threading::DISABLED);
  int errors = 0;
  mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic &diagnostic) {
    if (diagnostic.getSeverity() == mlir::DiagnosticSeverity::Error)
      ++errors;
    return mlir::success();
  });
  mlir::OwningOpRef<mlir::ModuleOp> module = compress::importOnnxFile(context, path);
  // A failed import says why; a module it returns is valid IR.
  if (!module && errors == 0)
    abort();
  if (module && mlir::failed(mlir::verify(*module)))
    abort();
  return 0;
}
