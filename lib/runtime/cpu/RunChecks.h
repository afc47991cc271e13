// Checks of a run that compiled code and sessions share: out-of-range
// indices reported by compiled code, and symbolic dimensions that inputs
// must agree on. No MLIR or LLVM.
#ifndef COMPRESS_LIB_RUNTIME_CPU_RUNCHECKS_H
#define COMPRESS_LIB_RUNTIME_CPU_RUNCHECKS_H

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

extern "C" {
/// Called by compiled code when an index lies outside [-bound, bound): the
/// first such index of a run is kept (the code goes on with index 0, which
/// reads in bounds) and the run then fails naming it.
void compress_rt_index_out_of_range(int64_t index, int64_t bound, int64_t site);
/// Called by compiled code to check an element count computed at run time
/// (compress.check_count): true when `count` equals `expected`; otherwise
/// the first such failure of a run is kept, as an index, and false returned.
bool compress_rt_check_count(int64_t count, int64_t expected, int64_t site);
}

namespace compress {

inline constexpr const char *kIndexOutOfRangeSymbol = "compress_rt_index_out_of_range";
inline constexpr const char *kCheckCountSymbol = "compress_rt_check_count";

/// An out-of-range index: its value, the extent it indexes and the number
/// of the check that saw it (compress-cpu-lower-index-checks numbers them);
/// or (`count`) an element count `index` where `bound` was expected.
struct IndexError {
  int64_t index, bound, site;
  bool count = false;
};

/// Runs of compiled code are serialised by this lock, so that an index
/// error belongs to the run that holds it.
class RunLock {
public:
  RunLock();
  ~RunLock();
  RunLock(const RunLock &) = delete;
  RunLock &operator=(const RunLock &) = delete;
};

/// The first out-of-range index reported since the last call (clearing it).
std::optional<IndexError> takeIndexError();

/// "index I is out of range for SITE: expected -N <= index < N", or for a
/// count "SITE: the shape computed at run time holds C elements, its input
/// E" (a negative count: an entry below -1).
std::string describeIndexError(const IndexError &error, const char *site);

/// One input as the checks see it: its name, its shape, and for each
/// dimension the name of its symbolic size ("" when it has none).
struct BoundInput {
  const char *name;
  const int64_t *shape;
  int rank;
  const std::vector<std::string> *dimNames;
};

/// "" when every symbolic dimension has one size across the inputs, else a
/// message naming the two inputs, the dimensions and their sizes.
std::string checkSymbolicDims(const std::vector<BoundInput> &inputs);

} // namespace compress

#endif
