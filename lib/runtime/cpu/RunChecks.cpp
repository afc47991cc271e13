// Out-of-range indices and symbolic dimensions: see RunChecks.h.
#include "lib/runtime/cpu/RunChecks.h"

#include <map>
#include <mutex>

namespace {
std::mutex runMutex;
std::mutex errorMutex;
std::optional<compress::IndexError> firstError;
} // namespace

extern "C" void compress_rt_index_out_of_range(int64_t index, int64_t bound, int64_t site) {
  std::lock_guard<std::mutex> lock(errorMutex);
  if (!firstError)
    firstError = compress::IndexError{index, bound, site};
}

extern "C" bool compress_rt_check_count(int64_t count, int64_t expected, int64_t site) {
  if (count == expected)
    return true;
  std::lock_guard<std::mutex> lock(errorMutex);
  if (!firstError)
    firstError = compress::IndexError{count, expected, site, /*count=*/true};
  return false;
}

using namespace compress;

RunLock::RunLock() { runMutex.lock(); }
RunLock::~RunLock() { runMutex.unlock(); }

std::optional<IndexError> compress::takeIndexError() {
  std::lock_guard<std::mutex> lock(errorMutex);
  std::optional<IndexError> error = firstError;
  firstError.reset();
  return error;
}

std::string compress::describeIndexError(const IndexError &error, const char *site) {
  if (error.count && error.index < 0)
    return std::string(site) + ": the shape computed at run time has an entry below -1 (its " +
           "input holds " + std::to_string(error.bound) + " elements)";
  if (error.count)
    return std::string(site) + ": the shape computed at run time holds " +
           std::to_string(error.index) + " elements, its input " + std::to_string(error.bound);
  return "index " + std::to_string(error.index) + " is out of range for " + site +
         ": expected " + std::to_string(-error.bound) + " <= index < " +
         std::to_string(error.bound);
}

std::string compress::checkSymbolicDims(const std::vector<BoundInput> &inputs) {
  struct Seen {
    const char *input;
    int dim;
    int64_t size;
  };
  std::map<std::string, Seen> seen;
  for (const BoundInput &in : inputs) {
    if (!in.dimNames)
      continue;
    for (int d = 0; d < in.rank && d < int(in.dimNames->size()); ++d) {
      const std::string &name = (*in.dimNames)[d];
      if (name.empty())
        continue;
      auto [it, inserted] = seen.try_emplace(name, Seen{in.name, d, in.shape[d]});
      if (!inserted && it->second.size != in.shape[d])
        return "inputs '" + std::string(it->second.input) + "' (dimension " +
               std::to_string(it->second.dim) + ") and '" + in.name + "' (dimension " +
               std::to_string(d) + ") share the symbolic size '" + name + "' but are " +
               std::to_string(it->second.size) + " and " + std::to_string(in.shape[d]);
    }
  }
  return "";
}
