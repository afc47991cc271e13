// Where a model's large weight blobs live while a tool compiles it, so that
// compressing a model larger than memory streams through it layer by layer.
//
// Without a store (the default) blobs are heap copies, as MLIR makes them.
// With one attached to the context (the tools attach one):
//  - external data is mapped read-only from its file instead of copied
//    (viewBlob);
//  - with spilling on, each new large blob (a transposed weight at import,
//    a pass's compressed weight) is written to one unlinked temporary file
//    and mapped back (copyBlob), so it occupies the page cache rather than
//    the process's memory;
//  - release() drops the resident pages of a file-backed blob once its
//    reader is done with it (a quantizer after a layer, the weights-file
//    writer after a constant): they are read from the file again if touched,
//    so peak memory is what one layer's work needs, not the model's size.
#ifndef COMPRESS_DIALECTS_COMPRESS_IR_WEIGHTSTORE_H
#define COMPRESS_DIALECTS_COMPRESS_IR_WEIGHTSTORE_H

#include "mlir/IR/AsmState.h"
#include "mlir/IR/MLIRContext.h"

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace compress {

class WeightStore : public std::enable_shared_from_this<WeightStore> {
public:
  WeightStore() = default;
  ~WeightStore();
  WeightStore(const WeightStore &) = delete;
  WeightStore &operator=(const WeightStore &) = delete;

  /// Once copyBlob has put `heapBudget` bytes on the heap, spills each
  /// further blob of at least `minBytes` to a temporary file in
  /// `directory`, created on first use and removed from the folder at once
  /// (its space is freed when the process ends, however it ends).
  void enableSpilling(llvm::StringRef directory, uint64_t heapBudget, size_t minBytes);

  /// A blob holding a copy of `bytes` aligned to `align` (at most a page):
  /// spilled as enableSpilling says, else on the heap. If the spill file
  /// cannot take it (a full disk), the blob stays on the heap and `warning`
  /// says why (once).
  mlir::AsmResourceBlob copyBlob(llvm::ArrayRef<char> bytes, size_t align,
                                 std::string *warning = nullptr);
  /// Registers a read-only file mapping (all of it), which release() may
  /// then drop pages of; `mapping` keeps it mapped as long as the store
  /// lives, so that its addresses never come to mean other memory.
  void adoptMapping(llvm::ArrayRef<char> region, std::shared_ptr<const void> mapping);
  /// A blob viewing `bytes` of an adopted mapping (kept as long as the
  /// blob, through the store).
  mlir::AsmResourceBlob viewBlob(llvm::ArrayRef<char> bytes, size_t align);
  /// Drops the resident pages of `bytes` when they lie in a file mapping of
  /// this store; anything else (heap blobs, inline constants) is left alone.
  void release(llvm::ArrayRef<char> bytes);

private:
  void addRegion(const char *begin, const char *end);
  void removeRegion(const char *begin);
  /// Writes `bytes` at the spill file's end and maps them, or says why not.
  llvm::Expected<const char *> spill(llvm::ArrayRef<char> bytes);

  bool spilling = false;
  std::string spillDirectory;
  uint64_t heapBudget = 0;
  size_t spillMinBytes = 0;
  uint64_t heapBytes = 0;
  int spillFd = -1;
  uint64_t spillEnd = 0;
  bool warnedOnce = false;
  std::mutex mutex;
  /// File mappings by first byte: one past their last byte.
  std::map<const char *, const char *> regions;
  std::vector<std::shared_ptr<const void>> adoptedMappings;
};

/// Attaches `store` to `context` (null detaches): through the compress
/// dialect, so each context has its own.
void setWeightStore(mlir::MLIRContext *context, std::shared_ptr<WeightStore> store);
/// The store attached to `context`, or null.
WeightStore *getWeightStore(mlir::MLIRContext *context);

/// A blob holding a copy of `bytes`: the attached store's copyBlob (a spill
/// that failed is reported as a warning on `context`), or a heap blob.
mlir::AsmResourceBlob makeWeightBlob(mlir::MLIRContext *context, llvm::ArrayRef<char> bytes,
                                     size_t align);
/// The attached store's release(), or nothing without one.
void releaseWeightPages(mlir::MLIRContext *context, llvm::ArrayRef<char> bytes);

} // namespace compress

#endif
