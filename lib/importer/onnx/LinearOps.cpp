// placeholder while the family is written
#include "lib/importer/onnx/NodeContext.h"
void compress::appendLinearOps(llvm::SmallVectorImpl<compress::OpTableEntry> &) {}
