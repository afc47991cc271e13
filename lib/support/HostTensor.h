// A tensor in host memory: what the engine reads from and writes to .npy files
// (and reads from .npz archives).
#ifndef COMPRESS_LIB_SUPPORT_HOSTTENSOR_H
#define COMPRESS_LIB_SUPPORT_HOSTTENSOR_H

#include "lib/support/AtomicOutput.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace compress {

/// Element types that cross the boundary between the host and compiled code.
enum class ElementKind { F16, BF16, F32, F64, I8, I16, I32, I64, U8, U16, U32, U64, Bool };

/// Size of one element in bytes.
size_t elementSize(ElementKind kind);
/// numpy's dtype string for the kind ("<f4", "|b1", ...).
const char *npyDescr(ElementKind kind);
/// Human-readable name ("float32", "int64", ...).
const char *elementName(ElementKind kind);

struct HostTensor {
  ElementKind kind = ElementKind::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;

  int64_t numElements() const;
  std::string shapeString() const;
};

/// What a model takes or gives: one argument or result of its entry
/// function.
struct TensorSignature {
  std::string name;
  ElementKind kind;
  std::vector<int64_t> shape; // -1 where dynamic
  /// Per dimension, the name of its symbolic size ("" for none); empty when
  /// no dimension has one.
  std::vector<std::string> dimNames;

  /// The shape as messages print it, '?' where dynamic: "[?,4]".
  std::string shapeString() const;
};

/// Parses the contents of a C-ordered little-endian .npy file (format
/// versions 1 to 3). Messages do not say where the bytes came from.
llvm::Expected<HostTensor> parseNpy(llvm::StringRef bytes);
/// Reads a C-ordered little-endian .npy file (format versions 1 to 3).
llvm::Expected<HostTensor> readNpy(llvm::StringRef path);
/// Writes `tensor` as a version-1 .npy file: to a temporary file beside
/// `path`, renamed into place once whole (a failed write leaves `path` as it
/// was).
llvm::Error writeNpy(llvm::StringRef path, const HostTensor &tensor);
/// Writes `tensor` as writeNpy() does but leaves it, closed, in the
/// returned temporary file beside `path`, for the caller to commit() (with
/// other outputs, once all are written: PendingOutputs) or drop.
llvm::Expected<AtomicFile> writeNpyTemp(llvm::StringRef path, const HostTensor &tensor);

/// An array of a .npz archive, named as numpy.load names it.
struct NamedTensor {
  std::string name;
  HostTensor tensor;
};
/// Reads a .npz archive: a ZIP of NAME.npy members, stored (numpy.savez) or
/// deflated (numpy.savez_compressed), zip64 or not. Arrays come in archive
/// order; messages name the file and the member.
llvm::Expected<std::vector<NamedTensor>> readNpz(llvm::StringRef path);

} // namespace compress

#endif
