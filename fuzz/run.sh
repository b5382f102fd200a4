#!/usr/bin/env bash
# Runs the libFuzzer targets of persona::fuzzing for a number of executions
# each, one target at a time on one thread, and prints per target:
# executions, wall time, exec/s, corpus size, peak memory and findings.
#
#   fuzz/run.sh TARGET|all [EXECUTIONS]     (default 1000000)
#   SANITIZER=address fuzz/run.sh gguf 100000   (ASan build; default none)
#
# Seeds come from fuzz/corpus/TARGET/ (committed, never written); what
# libFuzzer adds goes to fuzz/target/corpus/TARGET/ and crashes, timeouts
# and OOMs to fuzz/artifacts/TARGET/ (both git-ignored). Exits 1 on a finding.
set -euo pipefail
cd "$(dirname "$0")"

TARGETS=(gguf peft_adapter persona_toml experts_toml probe_jsonl pairs_jsonl
  trace_json url_state worker_protocol tokenizer chat_template weights_check)
what=${1:?usage: fuzz/run.sh TARGET|all [EXECUTIONS]}
runs=${2:-1000000}
sanitizer=${SANITIZER:-none}
if [ "$what" = all ]; then list=("${TARGETS[@]}"); else list=("$what"); fi

max_len() {
  case $1 in
    gguf) echo 65536 ;;
    peft_adapter) echo 16384 ;;
    trace_json | worker_protocol) echo 16384 ;;
    *) echo 4096 ;;
  esac
}

build=(--sanitizer "$sanitizer" --codegen-units 16)
mkdir -p target/logs
if [ ${#list[@]} -eq 1 ]; then one=("${list[0]}"); else one=(); fi
if ! cargo +nightly fuzz build "${build[@]}" "${one[@]}" >target/logs/build.log 2>&1; then
  tail -30 target/logs/build.log >&2
  exit 2
fi

found=0
printf '%-16s %10s %8s %9s %7s %8s %s\n' target executions seconds exec/s corpus rss_mb findings
for t in "${list[@]}"; do
  work=target/corpus/$t
  mkdir -p "$work" "artifacts/$t"
  # The real model's header as a seed, from the file set-up fetched (the
  # model is never committed; the committed seeds are synthetic).
  model=../assets/models/SmolLM2-135M-Instruct.Q4_1.gguf
  if [ "$t" = gguf ] && [ -f "$model" ]; then head -c 4096 "$model" >"$work/real_header_4k"; fi
  log=target/logs/$t.log
  start=$(date +%s.%N)
  rc=0
  cargo +nightly fuzz run "${build[@]}" "$t" "$work" "corpus/$t" -- \
    -runs="$runs" -timeout=1 -rss_limit_mb=2048 -max_len="$(max_len "$t")" \
    -print_final_stats=1 -artifact_prefix="artifacts/$t/" >"$log" 2>&1 || rc=$?
  end=$(date +%s.%N)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
  secs=$(echo "$end - $start" | bc)
  rate=$(echo "${execs:-0} / $secs" | bc)
  corpus=$(find "$work" -type f | wc -l)
  findings=$(find "artifacts/$t" -type f | wc -l)
  printf '%-16s %10s %8.1f %9s %7s %8s %s\n' "$t" "${execs:-?}" "$secs" "$rate" "$corpus" "${rss:-?}" "$findings"
  if [ "$rc" -ne 0 ] || [ "$findings" -ne 0 ]; then
    found=1
    echo "  $t: exit $rc, see fuzz/$log and fuzz/artifacts/$t/" >&2
    grep -m3 -E 'panicked|ERROR|SUMMARY|Timeout|out-of-memory' "$log" | sed 's/^/  /' >&2 || true
  fi
done
exit $found
