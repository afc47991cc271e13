// Fuzz target: the MLIR parser on text using the compress dialect, with
// every op's verifier. An input parses and verifies or gets an error
// diagnostic; nothing else. Seeds: the lit tests' .mlir files
// (scripts/fuzz.sh). Only the upstream dialects our ops' types and
// attributes need are loaded: linalg's own parsers are upstream's to fuzz
// (one crash of theirs is test/fuzz/upstream-linalg-transpose.test), and
// would stop this target at it.
#include "dialects/compress/IR/CompressDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static mlir::DialectRegistry registry = [] {
    mlir::DialectRegistry r;
    r.insert<compress::CompressDialect, mlir::func::FuncDialect, mlir::arith::ArithDialect,
             mlir::math::MathDialect, mlir::tensor::TensorDialect>();
    return r;
  }();
  mlir::MLIRContext context(registry, mlir::MLIRContext::Threading::DISABLED);
  context.loadAllAvailableDialects();
  int errors = 0;
  mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic &diagnostic) {
    if (diagnostic.getSeverity() == mlir::DiagnosticSeverity::Error)
      ++errors;
    return mlir::success();
  });
  // The lexer stops at a NUL after the text (as files read by the tools end):
  // a copy supplies it.
  std::string text(reinterpret_cast<const char *>(data), size);
  mlir::OwningOpRef<mlir::ModuleOp> module = mlir::parseSourceString<mlir::ModuleOp>(text, &context);
  if (!module && errors == 0)
    abort();
  return 0;
}
