// Arithmetic throughput with 1 and 2 threads: eight independent chains of
// 256-bit VNNI dot products per thread, no memory traffic.
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <immintrin.h>
#define ITERS 200000000l
static void *run(void *p) {
  __m256i a[8], w = _mm256_set1_epi8(3), x = _mm256_set1_epi8(5);
  for (int k = 0; k < 8; k++) a[k] = _mm256_set1_epi32(k);
  for (long i = 0; i < ITERS / 8; i++)
    for (int k = 0; k < 8; k++) a[k] = _mm256_dpbusd_epi32(a[k], w, x);
  long s = 0; for (int k = 0; k < 8; k++) s += _mm256_extract_epi32(a[k], 0);
  *(long *)p = s; return 0;
}
static double now() { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
int main() {
  for (int round = 0; round < 3; round++)
    for (int n = 1; n <= 2; n++) {
      pthread_t t[2]; long s[2];
      double t0 = now();
      for (int k = 0; k < n; k++) pthread_create(&t[k], 0, run, &s[k]);
      for (int k = 0; k < n; k++) pthread_join(t[k], 0);
      double dt = now() - t0;
      printf("threads %d: %.2f G dpbusd/s in all\n", n, n * ITERS / dt / 1e9);
    }
}
