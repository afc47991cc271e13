// The Calibration analysis: a session opened on the context's calibration
// source, if the running tool attached one.
#include "passes/compression/Calibration.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

using namespace compress;
using namespace mlir;

CalibrationSession::~CalibrationSession() = default;
CalibrationSource::~CalibrationSource() = default;

llvm::Error CalibrationSession::visitModelOutputs(ModuleOp module, ValueVisitor visit) {
  auto main = module.lookupSymbol<func::FuncOp>("main");
  if (!main || main.isExternal())
    return llvm::createStringError("the model has no func.func @main");
  auto ret = cast<func::ReturnOp>(main.getBody().back().getTerminator());
  return visitValues(llvm::to_vector(ret.getOperands()), visit);
}

void compress::setCalibrationSource(MLIRContext *context, CalibrationSource *source) {
  context->getOrLoadDialect<CompressDialect>()->calibrationSource = source;
}

Calibration::Calibration(Operation *module) {
  auto *dialect = module->getContext()->getOrLoadDialect<CompressDialect>();
  if (dialect->calibrationSource)
    session = dialect->calibrationSource->open(cast<ModuleOp>(module));
}
