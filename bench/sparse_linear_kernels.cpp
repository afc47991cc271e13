// Times the sparse linear microkernels (lib/runtime/cpu/SparseLinear.h)
// against the dense ones on one linear layer (default 4096 -> 11008, a
// Llama MLP's up projection: an fp32 weight of 180 MB, larger than L3):
//   - dense fp32 (compress_rt_contract_f32_constant_b: oneDNN, the weight
//     packed once before timing) and 2:4 fp32;
//   - dense int8 W8A8 (compress_rt_quantized_linear_tiled_f32, the tiled
//     layout) and 2:4 int8 W8A8, both with per-channel scales;
//   - ELL fp32 at several sparsities (uniformly random columns), and the
//     sparsity above which it beats dense fp32.
// The kernels run interleaved, each once per round, and the caches are
// flushed (128 MB read) before each call, so that every kernel
// streams its weight from memory as the layers of a model do; the table
// gives the median over the rounds. The CPU time other processes took
// during the rounds is reported: on a shared machine, numbers taken while
// it is high are not worth keeping.
//
// Usage: sparse-linear-bench [--threads T] [--rows 1,16] [--runs N]
//                            [--n N] [--k K] [--ell 50,80,90]
#include "lib/runtime/cpu/Contraction.h"
#include "lib/runtime/cpu/QuantizedLayout.h"
#include "lib/runtime/cpu/SparseLinear.h"

#include <omp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <vector>

using namespace compress;

namespace {

struct Options {
  int threads = 2, runs = 21;
  int64_t n = 11008, k = 4096;
  std::vector<int64_t> rows = {1, 16};
  std::vector<int64_t> ellSparsity = {30, 40, 50, 60, 70, 80, 90};
};

std::vector<int64_t> parseList(const char *text) {
  std::vector<int64_t> values;
  for (const char *at = text; *at;) {
    char *end;
    values.push_back(std::strtoll(at, &end, 10));
    at = *end == ',' ? end + 1 : end;
    if (end == at && *at)
      break;
  }
  return values;
}

Options parseOptions(int argc, char **argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    const char *value = argv[i + 1];
    if (flag == "--threads")
      o.threads = std::atoi(value);
    else if (flag == "--runs")
      o.runs = std::atoi(value);
    else if (flag == "--n")
      o.n = std::atoll(value);
    else if (flag == "--k")
      o.k = std::atoll(value);
    else if (flag == "--rows")
      o.rows = parseList(value);
    else if (flag == "--ell")
      o.ellSparsity = parseList(value);
    else {
      std::fprintf(stderr, "unknown option %s\n", flag.c_str());
      std::exit(2);
    }
  }
  std::sort(o.ellSparsity.begin(), o.ellSparsity.end());
  return o;
}

/// Memory on 64-byte boundaries, as the compiled code's allocator gives.
template <typename T>
struct Buffer {
  T *data = nullptr;
  explicit Buffer(size_t count = 0) { resize(count); }
  Buffer(const Buffer &) = delete;
  Buffer(Buffer &&other) noexcept : data(other.data) { other.data = nullptr; }
  ~Buffer() { std::free(data); }
  void resize(size_t count) {
    std::free(data);
    data = static_cast<T *>(std::aligned_alloc(64, (count * sizeof(T) + 63) / 64 * 64 + 64));
    std::memset(data, 0, count * sizeof(T));
  }
  int64_t address() const { return int64_t(data); }
};

/// Per-row symmetric int8 codes of `values` ([rows, count]) and the scales.
void quantizeRows(const float *values, int64_t rows, int64_t count, int8_t *codes,
                  float *scales) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    float largest = 0;
    for (int64_t j = 0; j < count; ++j)
      largest = std::max(largest, std::fabs(values[r * count + j]));
    float scale = largest > 0 ? largest / 127 : 1;
    scales[r] = scale;
    for (int64_t j = 0; j < count; ++j)
      codes[r * count + j] = int8_t(std::nearbyint(values[r * count + j] / scale));
  }
}

struct Ell {
  int64_t entries;
  Buffer<float> values;
  Buffer<uint16_t> columns16;
  Buffer<int32_t> columns32, counts;
};

/// Keeps `entries` uniformly random columns of each row of `w`.
Ell pruneEll(const std::vector<float> &w, int64_t n, int64_t k, int64_t entries) {
  Ell e{entries, Buffer<float>(n * entries), Buffer<uint16_t>(k <= 65536 ? n * entries : 0),
        Buffer<int32_t>(k <= 65536 ? 0 : n * entries), Buffer<int32_t>(n)};
#pragma omp parallel
  {
    std::mt19937 rng(unsigned(omp_get_thread_num() * 7919 + entries));
    std::vector<int32_t> all(k);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < n; ++r) {
      std::iota(all.begin(), all.end(), 0);
      // A partial Fisher-Yates shuffle picks the first `entries`.
      for (int64_t j = 0; j < entries; ++j)
        std::swap(all[j], all[std::uniform_int_distribution<int64_t>(j, k - 1)(rng)]);
      std::sort(all.begin(), all.begin() + entries);
      for (int64_t j = 0; j < entries; ++j) {
        e.values.data[r * entries + j] = w[r * k + all[j]];
        if (k <= 65536)
          e.columns16.data[r * entries + j] = uint16_t(all[j]);
        else
          e.columns32.data[r * entries + j] = all[j];
      }
      e.counts.data[r] = int32_t(entries);
    }
  }
  return e;
}

/// Evicts the weights from every cache level (L3: 32 MB on the machine
/// measured) by reading a larger buffer: only reads, so that the lines the
/// next kernel evicts are clean (dirty ones would cost it their writes).
void flushCaches(const std::vector<float> &buffer) {
  float sum = 0;
#pragma omp parallel for reduction(+ : sum) schedule(static)
  for (size_t i = 0; i < buffer.size(); ++i)
    sum += buffer[i];
  if (sum == -1.0f) // keeps the loop
    std::printf(" ");
}

/// CPU seconds every process has used (/proc/stat), and this one.
double machineCpuSeconds() {
  unsigned long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0;
  if (FILE *stat = std::fopen("/proc/stat", "r")) {
    if (std::fscanf(stat, "cpu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &system, &idle,
                    &iowait, &irq, &softirq) != 7)
      user = 0;
    std::fclose(stat);
  }
  return double(user + nice + system + irq + softirq) / double(sysconf(_SC_CLK_TCK));
}

double processCpuSeconds() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         1e-6 * double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

double seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Timed {
  std::string name;
  std::string baseline; // the row whose time the ratio divides by
  std::function<void(int64_t)> call;
  std::vector<double> times;
};

} // namespace

int main(int argc, char **argv) {
  Options o = parseOptions(argc, argv);
  omp_set_num_threads(o.threads);
  const int64_t n = o.n, k = o.k, maxRows = *std::max_element(o.rows.begin(), o.rows.end());
  std::printf("n=%lld k=%lld threads=%d runs=%d\n", (long long)n, (long long)k, o.threads,
              o.runs);

  // A random dense weight [n, k] and activations.
  std::vector<float> dense(n * k);
#pragma omp parallel
  {
    std::mt19937 rng(unsigned(omp_get_thread_num() + 1));
    std::normal_distribution<float> normal;
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n * k; ++i)
      dense[i] = normal(rng);
  }
  Buffer<float> x(maxRows * k), out(maxRows * n);
  {
    std::mt19937 rng(7);
    std::normal_distribution<float> normal;
    for (int64_t i = 0; i < maxRows * k; ++i)
      x.data[i] = normal(rng);
  }
  Buffer<float> denseWeight(n * k);
  std::copy(dense.begin(), dense.end(), denseWeight.data);

  // 2:4 by magnitude: the two largest of every four.
  const int64_t stored = k / 2, indexBytes = stored / 4;
  Buffer<float> nmValues(n * stored);
  Buffer<uint8_t> nmIndices(n * indexBytes);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < n; ++r)
    for (int64_t b = 0; b < k / 4; ++b) {
      int order[4] = {0, 1, 2, 3};
      const float *w = &dense[r * k + 4 * b];
      std::sort(order, order + 4, [&](int i, int j) { return std::fabs(w[i]) > std::fabs(w[j]); });
      std::sort(order, order + 2);
      for (int t = 0; t < 2; ++t) {
        int64_t j = 2 * b + t;
        nmValues.data[r * stored + j] = w[order[t]];
        nmIndices.data[r * indexBytes + j / 4] |= uint8_t(order[t] << (2 * (j % 4)));
      }
    }

  // int8, per-channel scales: dense codes tiled (QuantizedLayout.h), 2:4
  // codes of the kept values.
  std::vector<int8_t> denseCodes(n * k);
  std::vector<float> denseScales(n);
  quantizeRows(dense.data(), n, k, denseCodes.data(), denseScales.data());
  Buffer<uint8_t> tiles(quantized_layout::tiledWeightBytes(n, k, 8));
  quantized_layout::tileWeights(reinterpret_cast<const uint8_t *>(denseCodes.data()), n, k, 8,
                                tiles.data);
  Buffer<float> tiledScales(n);
  quantized_layout::tileGroupTable(denseScales.data(), n, 1, tiledScales.data);
  denseCodes = {};
  Buffer<int8_t> nmCodes(n * stored);
  Buffer<float> nmScales(n);
  quantizeRows(nmValues.data, n, stored, nmCodes.data, nmScales.data);

  std::vector<std::pair<int64_t, Ell>> ells;
  for (int64_t sparsity : o.ellSparsity)
    ells.emplace_back(sparsity, pruneEll(dense, n, k, k - k * sparsity / 100));
  dense = {};

  std::vector<Timed> kernels;
  kernels.push_back({"dense fp32 (oneDNN)", "dense fp32 (oneDNN)", [&](int64_t m) {
                       // C += A B: C cleared first, as the layer's zero fill would.
                       std::memset(out.data, 0, m * n * sizeof(float));
                       compress_rt_contract_f32_constant_b(
                           1, 1, 1, m, n, k, x.address(), 0, 0, 0, k, 1, denseWeight.address(), 0,
                           0, 0, 1, k, out.address(), 0, 0, 0, n, 1);
                     }});
  kernels.push_back({"2:4 fp32", "dense fp32 (oneDNN)", [&](int64_t m) {
                       compress_rt_nm_sparse_linear_f32(m, n, k, x.address(), k,
                                                        nmValues.address(), nmIndices.address(),
                                                        0, 0, out.address(), n, 2, 4, 0, 0, 0, 0);
                     }});
  kernels.push_back({"dense int8 W8A8 (tiled)", "dense int8 W8A8 (tiled)", [&](int64_t m) {
                       compress_rt_quantized_linear_tiled_f32(m, n, k, x.address(), k,
                                                              tiles.address(),
                                                              tiledScales.address(), 0,
                                                              out.address(), n, 8, k, 1, 0);
                     }});
  kernels.push_back({"2:4 int8 W8A8", "dense int8 W8A8 (tiled)", [&](int64_t m) {
                       compress_rt_nm_sparse_linear_f32(m, n, k, x.address(), k,
                                                        nmCodes.address(), nmIndices.address(),
                                                        nmScales.address(), 0, out.address(), n,
                                                        2, 4, 8, stored, 1, 0);
                     }});
  for (auto &[sparsity, e] : ells) {
    Ell *ell = &e;
    kernels.push_back({"ELL fp32 " + std::to_string(sparsity) + "%", "dense fp32 (oneDNN)",
                       [=, &x, &out](int64_t m) {
                         bool narrow = k <= 65536;
                         compress_rt_ell_sparse_linear_f32(
                             m, n, k, x.address(), k, ell->values.address(),
                             narrow ? ell->columns16.address() : ell->columns32.address(),
                             narrow ? 16 : 32, ell->counts.address(), ell->entries, 0, 0,
                             out.address(), n, 0, 0, 0, 0);
                       }});
  }

  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::vector<std::vector<double>> medians(kernels.size());
  std::vector<float> flush(32 << 20, 1.0f); // 128 MB
  double machineStart = machineCpuSeconds(), processStart = processCpuSeconds();
  double wallStart = seconds();
  for (int64_t m : o.rows) {
    for (Timed &t : kernels) {
      t.times.clear();
      t.call(m); // warm-up: oneDNN packs its weight here
    }
    for (int run = 0; run < o.runs; ++run)
      for (Timed &t : kernels) {
        flushCaches(flush);
        double start = seconds();
        t.call(m);
        t.times.push_back(seconds() - start);
      }
    for (size_t i = 0; i < kernels.size(); ++i)
      medians[i].push_back(median(kernels[i].times) * 1e3);
  }
  double others = (machineCpuSeconds() - machineStart) - (processCpuSeconds() - processStart);
  std::printf("other processes took %.0f%% of the machine's CPU time during the rounds\n",
              100 * others / (double(sysconf(_SC_NPROCESSORS_ONLN)) * (seconds() - wallStart)));

  auto baselineOf = [&](size_t i) {
    for (size_t j = 0; j < kernels.size(); ++j)
      if (kernels[j].name == kernels[i].baseline)
        return j;
    return i;
  };
  std::printf("\n| kernel |");
  for (int64_t m : o.rows)
    std::printf(" m=%lld ms | ratio |", (long long)m);
  std::printf("\n|---|");
  for (size_t r = 0; r < o.rows.size(); ++r)
    std::printf("---:|---:|");
  std::printf("\n");
  for (size_t i = 0; i < kernels.size(); ++i) {
    std::printf("| %s |", kernels[i].name.c_str());
    for (size_t r = 0; r < o.rows.size(); ++r)
      std::printf(" %.3f | %.2f |", medians[i][r], medians[i][r] / medians[baselineOf(i)][r]);
    std::printf("\n");
  }

  // Break-even: where the ELL ratio crosses 1, interpolated linearly in
  // sparsity between the measured points.
  std::printf("\n");
  size_t firstEll = kernels.size() - ells.size();
  for (size_t r = 0; r < o.rows.size(); ++r) {
    std::string at = "beyond the sparsities measured";
    for (size_t e = 0; e < ells.size(); ++e) {
      double ratio = medians[firstEll + e][r] / medians[0][r];
      if (ratio > 1)
        continue;
      if (e == 0) {
        at = "below " + std::to_string(ells[e].first) + "%";
      } else {
        double before = medians[firstEll + e - 1][r] / medians[0][r];
        double s0 = double(ells[e - 1].first), s1 = double(ells[e].first);
        char text[64];
        std::snprintf(text, sizeof(text), "%.0f%%",
                      s0 + (s1 - s0) * (before - 1) / (before - ratio));
        at = text;
      }
      break;
    }
    std::printf("ELL fp32 beats dense fp32 at m=%lld from sparsity %s\n", (long long)o.rows[r],
                at.c_str());
  }
  return 0;
}
