// Loading an ONNX model file: parsing, validation and external data.
#ifndef COMPRESS_LIB_IMPORTER_ONNX_ONNXMODEL_H
#define COMPRESS_LIB_IMPORTER_ONNX_ONNXMODEL_H

#include "onnx.pb.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/FileSystem.h"

#include <memory>
#include <optional>
#include <string>

namespace compress {

/// A parsed, validated model and where it came from.
struct OnnxModel {
  onnx::ModelProto proto;
  std::string directory; // external data paths are relative to this
  std::string path;
  /// Opset version per domain ("" for the default ai.onnx domain).
  llvm::StringMap<int64_t> opsets;

  /// External data files mapped so far (mapTensorBytes), by path.
  mutable llvm::StringMap<std::shared_ptr<llvm::sys::fs::mapped_file_region>> mappedFiles;

  /// The opset a node of `domain` runs under, or -1 when not imported.
  int64_t opsetFor(llvm::StringRef domain) const;
};

/// Parses `path`, checks that it is a complete graph (every value consumed is
/// produced, initializers have the bytes their shape needs), and fails with one
/// message naming what is wrong otherwise.
llvm::Expected<std::unique_ptr<OnnxModel>> loadOnnxModel(llvm::StringRef path);

/// The raw little-endian bytes of an initializer or Constant value, read from
/// raw_data, the typed repeated fields, or an external data file (whose path
/// must stay inside the model's folder).
llvm::Expected<std::vector<char>> readTensorBytes(const OnnxModel &model,
                                                  const onnx::TensorProto &t);
/// The same for a tensor that is no part of a model (a serialized
/// TensorProto file), whose external data lies in `directory`.
llvm::Expected<std::vector<char>> readTensorBytes(llvm::StringRef directory,
                                                  const onnx::TensorProto &t);

/// An external tensor's bytes, mapped read-only from its file instead of
/// copied.
struct MappedTensorBytes {
  llvm::ArrayRef<char> bytes;
  /// All of the file mapped.
  llvm::ArrayRef<char> file;
  /// Keeps the file mapped while anything views the bytes.
  std::shared_ptr<const void> mapping;
};
/// The bytes of a tensor stored as external data, mapped, with the checks
/// of readTensorBytes; nullopt when its data is in the model file.
llvm::Expected<std::optional<MappedTensorBytes>> mapTensorBytes(const OnnxModel &model,
                                                                const onnx::TensorProto &t);

/// Size in bytes of one element of an ONNX data type, 0 when unsupported.
size_t onnxElementSize(int32_t dataType);
/// The ONNX name of a data type ("FLOAT", "INT64", ...).
std::string onnxTypeName(int32_t dataType);

} // namespace compress

#endif
