// placeholder while the family is written
#include "lib/importer/onnx/NodeContext.h"
void compress::appendNNOps(llvm::SmallVectorImpl<compress::OpTableEntry> &) {}
