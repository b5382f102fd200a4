#!/usr/bin/env bash
# What two threads can gain on this machine, apart from our engine: streaming
# reads (what a one-row decode step mostly waits on) and VNNI arithmetic (what
# prefill and many-row steps wait on), each at 1 and 2 threads, three rounds.
# Needs gcc; x86-64 with AVX-512 VNNI. Figures: docs/BENCHMARKS.md, "What two
# threads can gain here".
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$(mktemp -d)"
gcc -O2 -mavx2 -pthread "$here/read_bandwidth.c" -o "$out/read_bandwidth"
gcc -O2 -mavx2 -mavx512vnni -mavx512vl -pthread "$here/vnni_throughput.c" -o "$out/vnni_throughput"
"$out/read_bandwidth"
"$out/vnni_throughput"
rm -rf "$out"
