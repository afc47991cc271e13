// Reading and writing the constant weights of layers, and the JSON reports
// that compression passes share.
#ifndef COMPRESS_PASSES_COMPRESSION_LAYERWEIGHTS_H
#define COMPRESS_PASSES_COMPRESSION_LAYERWEIGHTS_H

#include "dialects/compress/IR/CompressOps.h"
#include "lib/support/AtomicOutput.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"

#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Regex.h"

#include <optional>
#include <vector>

namespace compress {

/// The float32 contents of a constant weight, or nullopt.
std::optional<std::vector<float>> constantFloats(mlir::Value v);

/// A constant of `type` holding `bytes`: inline when small, else a blob
/// named `key` (the weights file's name for it).
mlir::Value makeConstant(mlir::OpBuilder &b, mlir::Location loc, mlir::RankedTensorType type,
                         llvm::ArrayRef<char> bytes, llvm::StringRef key);

/// makeConstant of a vector's bytes.
template <typename T>
mlir::Value makeConstant(mlir::OpBuilder &b, mlir::Location loc, mlir::RankedTensorType type,
                         const std::vector<T> &values, llvm::StringRef key) {
  return makeConstant(b, loc, type,
                      llvm::ArrayRef<char>(reinterpret_cast<const char *>(values.data()),
                                           values.size() * sizeof(T)),
                      key);
}

/// Integer codes ([rows, cols], each masked to `bits` bits) packed as the
/// dialect stores them: one a byte above 4 bits, else two a byte, the
/// first in the low nibble.
std::vector<int8_t> packCodes(const std::vector<int32_t> &codes, int64_t rows, int64_t cols,
                              int64_t bits);

/// Code `j` of a row of `bits`-bit codes packed as packCodes packs them,
/// sign-extended unless `unsignedCodes`.
int32_t unpackCode(const char *row, int64_t j, int64_t bits, bool unsignedCodes);
/// Remembers, for the rest of the tool's run, that `compressed` (the op a
/// pass built) stands for the float constant `floatWeight` of the layer it
/// replaced, so that a later pass can fit the compression's error
/// (compress-factorize's compensate). Costs no copy: the constant's
/// attribute lives in the context anyway.
void recordUncompressedWeight(CompressibleLayer compressed, mlir::Value floatWeight);

/// Moves what `from` stood for to `to`, which replaces it (a pruned layer
/// quantized afterwards still stands for the float weight before pruning).
void forwardUncompressedWeight(CompressibleLayer from, CompressibleLayer to);

/// The float32 [N, K] weight `layer` stood for before a pass of this run
/// compressed it, or nullopt when none recorded it.
std::optional<std::vector<float>> uncompressedWeight(CompressibleLayer layer);

/// The [N, K] float32 weight a quantized or sparse linear layer computes
/// with (codes dequantised, pruned entries 0), or an error saying why it
/// cannot be read (not such a layer, weights not constants).
llvm::Expected<std::vector<float>> decompressedWeight(CompressibleLayer layer);

/// Publishes the report of `pass` (publishReport) in the format
/// compression passes share: {"pass", "layers", "totals"}, the totals
/// counting the layers rewritten (entries without "skipped"), those
/// skipped, and the bytes before and after.
llvm::Error writeReport(mlir::MLIRContext *context, llvm::StringRef path, llvm::StringRef pass,
                        llvm::json::Array layers, int64_t bytesBefore, int64_t bytesAfter);

/// Hands a pass's report to the running tool's pending outputs (its summary
/// and HTML page), and, unless `path` is empty, writes it there as JSON
/// (creating its folder) through a temporary file beside it. The file goes
/// into place with the pending outputs when the tool attached them (once
/// its whole run succeeded), else at once; until then `path` stays as it
/// was.
llvm::Error publishReport(mlir::MLIRContext *context, llvm::StringRef path,
                          llvm::json::Value document);

/// Attaches the running tool's pending outputs to `context` (null: none):
/// reports written by passes wait in them for the tool to commit.
void setPendingOutputs(mlir::MLIRContext *context, PendingOutputs *outputs);

/// A pass's `skip=` option: a regular expression; layers whose name it
/// matches stay as they are.
class SkipPattern {
public:
  /// The pattern, or failure after an error on `module` naming `pass` and
  /// the regular expression's fault.
  static mlir::FailureOr<SkipPattern> parse(mlir::ModuleOp module, llvm::StringRef pass,
                                            llvm::StringRef pattern);
  /// Whether `name` matches (never, for an empty pattern).
  bool matches(llvm::StringRef name) const;
  /// The reason a report gives for a matched layer.
  std::string reason() const { return "matches skip='" + pattern + "'"; }

private:
  explicit SkipPattern(llvm::StringRef pattern) : pattern(pattern.str()), regex(pattern) {}
  std::string pattern;
  llvm::Regex regex;
};

} // namespace compress

#endif
