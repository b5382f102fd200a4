// Read bandwidth with 1 and 2 threads: each thread sums its half (or all) of
// a buffer much larger than the caches, repeatedly; reports GB/s.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <time.h>
#include <immintrin.h>
#define BYTES (512ul << 20)
static uint8_t *buf;
typedef struct { size_t from, to; long sum; } job;
static void *run(void *p) {
  job *j = p; __m256i acc = _mm256_setzero_si256();
  for (int rep = 0; rep < 4; rep++)
    for (size_t i = j->from; i < j->to; i += 32)
      acc = _mm256_add_epi64(acc, _mm256_sad_epu8(_mm256_load_si256((__m256i *)(buf + i)), _mm256_setzero_si256()));
  long out[4]; _mm256_storeu_si256((__m256i *)out, acc); j->sum = out[0] + out[1] + out[2] + out[3];
  return 0;
}
static double now() { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
int main() {
  buf = aligned_alloc(64, BYTES);
  for (size_t i = 0; i < BYTES; i++) buf[i] = (uint8_t)i;
  for (int round = 0; round < 3; round++)
    for (int n = 1; n <= 2; n++) {
      pthread_t t[2]; job j[2];
      double t0 = now();
      for (int k = 0; k < n; k++) { j[k].from = BYTES / n * k; j[k].to = BYTES / n * (k + 1); pthread_create(&t[k], 0, run, &j[k]); }
      for (int k = 0; k < n; k++) pthread_join(t[k], 0);
      double dt = now() - t0;
      printf("threads %d: %.1f GB/s (check %ld)\n", n, 4.0 * BYTES / dt / 1e9, j[0].sum);
    }
}
