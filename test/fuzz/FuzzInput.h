// The fuzz targets' shared step: the entry points under test read files (a
// model's folder decides where its external data may come from), so each
// input is written to a file of its own scratch folder first.
#ifndef COMPRESS_TEST_FUZZ_FUZZINPUT_H
#define COMPRESS_TEST_FUZZ_FUZZINPUT_H

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <unistd.h>

namespace compress::fuzz {

/// A scratch folder of this process (created once), holding nothing but the
/// files the target writes.
inline const std::string &scratchFolder() {
  static const std::string folder = [] {
    std::string pattern = "/tmp/compress-fuzz-XXXXXX";
    if (!mkdtemp(pattern.data()))
      abort();
    return pattern;
  }();
  return folder;
}

/// Writes `data` to SCRATCH/name and returns the path.
inline std::string writeInput(const char *name, const uint8_t *data, size_t size) {
  std::string path = scratchFolder() + "/" + name;
  FILE *file = fopen(path.c_str(), "wb");
  if (!file || (size && fwrite(data, 1, size, file) != size) || fclose(file) != 0)
    abort();
  return path;
}

} // namespace compress::fuzz

#endif
