// The raw bytes of constant tensors, for CPU passes that lay them out anew
// or write them to a weights file.
#ifndef COMPRESS_PASSES_CPU_CONSTANTBYTES_H
#define COMPRESS_PASSES_CPU_CONSTANTBYTES_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#include <optional>
#include <vector>

namespace compress {

/// The little-endian bytes of a constant (splats expanded into `storage`),
/// or nullopt when it has none to give (i1 elements, a released blob).
inline std::optional<llvm::ArrayRef<char>> constantBytes(mlir::ElementsAttr attr,
                                                         std::vector<char> &storage) {
  if (auto resource = llvm::dyn_cast<mlir::DenseResourceElementsAttr>(attr)) {
    mlir::AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob)
      return std::nullopt;
    return blob->getData();
  }
  auto dense = llvm::dyn_cast<mlir::DenseElementsAttr>(attr);
  if (!dense || dense.getElementType().isInteger(1))
    return std::nullopt;
  if (!dense.isSplat())
    return dense.getRawData();
  llvm::ArrayRef<char> one = dense.getRawData();
  for (int64_t i = 0; i < dense.getNumElements(); ++i)
    storage.insert(storage.end(), one.begin(), one.end());
  return llvm::ArrayRef<char>(storage);
}

} // namespace compress

#endif
