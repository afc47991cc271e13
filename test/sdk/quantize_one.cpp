// Parses a module with one compress.linear, runs compress-quantize from the
// installed libraries and prints the result.
#include "dialects/compress/IR/CompressDialect.h"
#include "passes/Registration.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include "llvm/Support/raw_ostream.h"

int main() {
  mlir::MLIRContext context;
  context.loadDialect<compress::CompressDialect, mlir::arith::ArithDialect,
                      mlir::func::FuncDialect>();
  auto module = mlir::parseSourceString<mlir::ModuleOp>(R"mlir(
    func.func @main(%x: tensor<2x8xf32>) -> tensor<2x2xf32> {
      %w = arith.constant dense<0.5> : tensor<2x8xf32>
      %y = compress.linear %x, %w : tensor<2x8xf32>, tensor<2x8xf32> -> tensor<2x2xf32>
      return %y : tensor<2x2xf32>
    })mlir", &context);
  if (!module)
    return 1;
  if (llvm::Error e = compress::runPassPipeline(*module, "compress-quantize{bits=4 group-size=8}")) {
    llvm::errs() << llvm::toString(std::move(e)) << "\n";
    return 1;
  }
  module->print(llvm::outs());
  return 0;
}
