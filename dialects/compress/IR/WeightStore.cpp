// Where large weight blobs live: heap, mapped external data, or a spill file.
#include "dialects/compress/IR/WeightStore.h"
#include "dialects/compress/IR/CompressDialect.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Location.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/Path.h"

#include <cerrno>
#include <cstring>
#include <sys/mman.h>
#include <unistd.h>

using namespace mlir;
using namespace compress;

static uintptr_t pageSize() {
  static const uintptr_t size = uintptr_t(sysconf(_SC_PAGESIZE));
  return size;
}

WeightStore::~WeightStore() {
  if (spillFd >= 0)
    close(spillFd);
}

void WeightStore::enableSpilling(llvm::StringRef directory, uint64_t budget,
                                 size_t minBytes) {
  spilling = true;
  spillDirectory = directory.str();
  heapBudget = budget;
  spillMinBytes = minBytes;
}

void WeightStore::addRegion(const char *begin, const char *end) {
  std::lock_guard<std::mutex> lock(mutex);
  regions[begin] = end;
}

void WeightStore::removeRegion(const char *begin) {
  std::lock_guard<std::mutex> lock(mutex);
  regions.erase(begin);
}

llvm::Expected<const char *> WeightStore::spill(llvm::ArrayRef<char> bytes) {
  if (spillFd < 0) {
    llvm::SmallString<256> model(spillDirectory);
    llvm::sys::path::append(model, "compress-spill-%%%%%%%%.weights");
    llvm::SmallString<256> path;
    if (std::error_code ec = llvm::sys::fs::createUniqueFile(model, spillFd, path))
      return llvm::createStringError("cannot create a file in '" + spillDirectory +
                                     "': " + ec.message());
    // Unlinked at once: the space comes back when the descriptor and the
    // mappings go, even if the process is killed.
    llvm::sys::fs::remove(path);
  }
  // Each blob starts a page, so that it maps on its own.
  uint64_t offset = llvm::alignTo(spillEnd, pageSize());
  for (size_t written = 0; written < bytes.size();) {
    ssize_t n = pwrite(spillFd, bytes.data() + written, bytes.size() - written,
                       off_t(offset + written));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return llvm::createStringError(n < 0 ? strerror(errno) : "short write");
    written += size_t(n);
  }
  void *mapped = mmap(nullptr, bytes.size(), PROT_READ, MAP_SHARED, spillFd, off_t(offset));
  if (mapped == MAP_FAILED)
    return llvm::createStringError(std::string("cannot map it back: ") + strerror(errno));
  spillEnd = offset + bytes.size();
  return static_cast<const char *>(mapped);
}

AsmResourceBlob WeightStore::copyBlob(llvm::ArrayRef<char> bytes, size_t align,
                                      std::string *warning) {
  bool spills = spilling && !bytes.empty() && bytes.size() >= spillMinBytes &&
                heapBytes + bytes.size() > heapBudget && align <= pageSize();
  if (spills) {
    llvm::Expected<const char *> begin = spill(bytes);
    if (begin) {
      addRegion(*begin, *begin + bytes.size());
      // Written through the descriptor, the pages sit in the page cache, not
      // in this process: nothing to release until a reader maps them in.
      return UnmanagedAsmResourceBlob::allocateWithAlign(
          llvm::ArrayRef<char>(*begin, bytes.size()), align,
          [self = shared_from_this()](void *data, size_t size, size_t) {
            self->removeRegion(static_cast<const char *>(data));
            munmap(data, size);
          });
    }
    if (warning && !warnedOnce)
      *warning = "cannot spill weights to '" + spillDirectory +
                 "' (" + llvm::toString(begin.takeError()) + "): keeping them in memory";
    else
      llvm::consumeError(begin.takeError());
    warnedOnce = true;
  }
  heapBytes += bytes.size();
  return HeapAsmResourceBlob::allocateAndCopyWithAlign(bytes, align);
}

void WeightStore::adoptMapping(llvm::ArrayRef<char> region,
                               std::shared_ptr<const void> mapping) {
  std::lock_guard<std::mutex> lock(mutex);
  if (regions.try_emplace(region.begin(), region.end()).second)
    adoptedMappings.push_back(std::move(mapping));
}

AsmResourceBlob WeightStore::viewBlob(llvm::ArrayRef<char> bytes, size_t align) {
  return UnmanagedAsmResourceBlob::allocateWithAlign(
      bytes, align, [self = shared_from_this()](void *, size_t, size_t) {});
}

void WeightStore::release(llvm::ArrayRef<char> bytes) {
  if (bytes.empty())
    return;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = regions.upper_bound(bytes.begin());
  if (it == regions.begin())
    return;
  --it;
  if (bytes.begin() < it->first || bytes.end() > it->second)
    return;
  // Whole pages: those shared with a neighbouring blob hold file contents
  // too, read again from the file if that blob is touched.
  uintptr_t first = uintptr_t(bytes.begin()) & ~(pageSize() - 1);
  uintptr_t last = llvm::alignTo(uintptr_t(bytes.end()), pageSize());
  madvise(reinterpret_cast<void *>(first), last - first, MADV_DONTNEED);
}

void compress::setWeightStore(MLIRContext *context, std::shared_ptr<WeightStore> store) {
  context->getOrLoadDialect<CompressDialect>()->weightStore = std::move(store);
}

WeightStore *compress::getWeightStore(MLIRContext *context) {
  return context->getOrLoadDialect<CompressDialect>()->weightStore.get();
}

AsmResourceBlob compress::makeWeightBlob(MLIRContext *context, llvm::ArrayRef<char> bytes,
                                         size_t align) {
  WeightStore *store = getWeightStore(context);
  if (!store)
    return HeapAsmResourceBlob::allocateAndCopyWithAlign(bytes, align);
  std::string warning;
  AsmResourceBlob blob = store->copyBlob(bytes, align, &warning);
  if (!warning.empty())
    emitWarning(UnknownLoc::get(context)) << warning;
  return blob;
}

void compress::releaseWeightPages(MLIRContext *context, llvm::ArrayRef<char> bytes) {
  if (WeightStore *store = getWeightStore(context))
    store->release(bytes);
}
