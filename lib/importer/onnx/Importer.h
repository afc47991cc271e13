// Importing an ONNX model into a module of `compress` and upstream dialects.
#ifndef COMPRESS_LIB_IMPORTER_ONNX_IMPORTER_H
#define COMPRESS_LIB_IMPORTER_ONNX_IMPORTER_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/OwningOpRef.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"

namespace compress {

struct OnnxImportOptions {
  /// Replaces the declared shape of graph inputs (name -> dims, -1 dynamic),
  /// e.g. to fix a symbolic batch size.
  llvm::StringMap<llvm::SmallVector<int64_t>> inputShapes;
  /// Contents of small integer graph inputs known when compiling (the JIT
  /// knows its inputs), so that inputs deciding shapes (Reshape's shape,
  /// Slice's starts, ...) fold as constants do. The value still comes from
  /// the function argument at run time.
  llvm::StringMap<llvm::SmallVector<int64_t>> inputValues;
  llvm::StringMap<std::vector<double>> inputFloatValues;
};

/// Parses NAME=D0xD1x... ('?' for a dynamic dimension) into `options`.
mlir::LogicalResult parseInputShape(llvm::StringRef spec, OnnxImportOptions &options);

/// The dialects an imported module uses.
void registerOnnxImportDialects(mlir::DialectRegistry &registry);

/// Imports the model at `path` into a module holding `func.func @main`. Graph
/// inputs and outputs become the function's arguments and results, named by
/// `compress.name` attributes. On failure, emits one error diagnostic naming
/// the node, op and opset at fault, and returns null.
mlir::OwningOpRef<mlir::ModuleOp>
importOnnxFile(mlir::MLIRContext &context, llvm::StringRef path,
               const OnnxImportOptions &options = {});

/// One ONNX op the importer accepts, over an opset range.
struct SupportedOnnxOp {
  llvm::StringRef opType;
  int64_t minOpset, maxOpset;
};
/// Every op the importer accepts, sorted by name.
llvm::SmallVector<SupportedOnnxOp> supportedOnnxOps();

/// Attribute names on the function's arguments and results.
inline constexpr llvm::StringLiteral kNameAttr = "compress.name";
inline constexpr llvm::StringLiteral kUnsignedAttr = "compress.unsigned";
/// On an argument of @main with symbolic dimensions: for each dimension the
/// ONNX dim_param naming its size ("" for none). Inputs' dimensions of one
/// name must have one size when the model runs.
inline constexpr llvm::StringLiteral kDimNamesAttr = "compress.dim_names";

} // namespace compress

#endif
