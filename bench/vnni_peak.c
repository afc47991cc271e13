// The machine's peak rate of 512-bit VNNI dot products (vpdpbusd: 64 uint8 x
// int8 products summed into 16 int32 lanes), measured with registers only:
// each thread keeps 16 independent accumulators busy, so neither memory nor
// the instruction's latency limits it. An integer product of M x K by K x N
// needs at least M*K*N/64 of these instructions, so this rate bounds how fast
// any int8 kernel (ours or onnxruntime's) can be on this machine.
//
// Usage: vnni_peak THREADS
// Prints one JSON line: {"threads": T, "vpdpbusd_per_second": R, "macs_per_second": 64 R}.
#include <immintrin.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { kAccumulators = 16, kIterations = 20 * 1000 * 1000 };

static double now_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

// Runs kIterations rounds of kAccumulators independent vpdpbusd; returns a
// value that depends on every accumulator, so none of the work is dead.
__attribute__((target("avx512f,avx512vnni"))) static int32_t run_dot_products(int32_t seed) {
  __m512i a = _mm512_set1_epi32(seed | 0x01010101), b = _mm512_set1_epi32(0x01fe01fe);
  __m512i acc[kAccumulators];
  for (int i = 0; i < kAccumulators; ++i)
    acc[i] = _mm512_set1_epi32(i);
  for (long it = 0; it < kIterations; ++it) {
    // Unrolled, so that the accumulators live in registers.
#pragma GCC unroll 16
    for (int i = 0; i < kAccumulators; ++i)
      acc[i] = _mm512_dpbusd_epi32(acc[i], a, b);
    // Keeps the compiler from folding the loop into a multiplication.
    __asm__ volatile("" : "+v"(a));
  }
  __m512i sum = acc[0];
  for (int i = 1; i < kAccumulators; ++i)
    sum = _mm512_add_epi32(sum, acc[i]);
  return _mm512_reduce_add_epi32(sum);
}

static void *thread_main(void *arg) {
  *(int32_t *)arg = run_dot_products(*(int32_t *)arg);
  return NULL;
}

int main(int argc, char **argv) {
  int threads = argc == 2 ? atoi(argv[1]) : 0;
  if (threads < 1 || threads > 1024) {
    fprintf(stderr, "usage: vnni_peak THREADS (1 to 1024)\n");
    return 2;
  }
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512vnni")) {
    fprintf(stderr, "vnni_peak: this CPU has no AVX-512 VNNI\n");
    return 1;
  }
  pthread_t *ids = calloc((size_t)threads, sizeof(pthread_t));
  int32_t *values = calloc((size_t)threads, sizeof(int32_t));
  if (!ids || !values) {
    fprintf(stderr, "vnni_peak: out of memory\n");
    return 1;
  }
  run_dot_products(1); // warm-up: clocks up, code in cache
  double start = now_seconds();
  for (int t = 0; t < threads; ++t) {
    values[t] = t + 1;
    if (pthread_create(&ids[t], NULL, thread_main, &values[t]) != 0) {
      fprintf(stderr, "vnni_peak: cannot start thread %d\n", t);
      return 1;
    }
  }
  int32_t check = 0;
  for (int t = 0; t < threads; ++t) {
    pthread_join(ids[t], NULL);
    check ^= values[t];
  }
  double seconds = now_seconds() - start;
  double rate = (double)threads * kAccumulators * (double)kIterations / seconds;
  printf("{\"threads\": %d, \"vpdpbusd_per_second\": %.4e, \"macs_per_second\": %.4e, \"check\": %d}\n", threads,
         rate, 64.0 * rate, check);
  free(ids);
  free(values);
  return 0;
}
