#!/usr/bin/env bash
# The CI fuzzing step (issue 6). Builds every fuzz target as a libFuzzer binary with clang,
# AddressSanitizer and UBSan, runs each for FUZZ_SECONDS over a copy of its corpus with its
# dictionary, FUZZ_JOBS at a time, prints executions per second and in total per target, and
# fails when any target crashed (a crash, a sanitizer report or a broken invariant).
#
# Usage: fuzz/ci.sh [BUILD_DIR]          (default: build-fuzz-ci, under the source root)
# Environment: FUZZ_SECONDS (default 60), FUZZ_JOBS (default 2), FUZZ_TARGETS (default: all).
# Seven targets, 60 s each, two at a time: 4 minutes of fuzzing after the build.
set -euo pipefail

source_root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build-fuzz-ci}
case $build in /*) ;; *) build=$source_root/$build ;; esac
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-2}
targets=${FUZZ_TARGETS:-"jpeg png bmp webp probe rules detect"}

# The library is built with the sanitizers (b_sanitize; b_lundef=false because a sanitized
# shared library leaves the runtime's symbols to the executable) and with coverage feedback
# for libFuzzer (-fsanitize=fuzzer-no-link). Tests and tool are not needed here.
setup_options=(
  -Dfuzzing=true
  -Db_sanitize=address,undefined
  -Db_lundef=false
  -Dcpp_args=-fsanitize=fuzzer-no-link
  -Dtests=false
  -Dtool=false
  --buildtype=debugoptimized
)
if [[ -f $build/build.ninja ]]; then
  meson setup --reconfigure "$build" "$source_root" "${setup_options[@]}" >/dev/null
else
  CXX=clang++ meson setup "$build" "$source_root" "${setup_options[@]}" >/dev/null
fi
ninja -C "$build" -j2 >/dev/null

export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

run_dir=$build/fuzz-run
rm -rf "$run_dir"

# One target: a copy of its corpus (new inputs found here are not kept), its dictionary, and
# artifacts (crash-*, timeout-*, leak-*) in its own directory.
fuzz_one() {
  local target=$1 dir=$run_dir/$1
  mkdir -p "$dir/corpus" "$dir/artifacts"
  cp "$source_root/fuzz/corpus/$target/"* "$dir/corpus/"
  local status=0
  timeout $((seconds + 120)) "$build/fuzz/${target}_fuzzer" \
    -max_total_time="$seconds" -print_final_stats=1 -error_exitcode=1 -timeout=10 \
    -rss_limit_mb=2048 -dict="$source_root/fuzz/dict/$target.dict" \
    -artifact_prefix="$dir/artifacts/" "$dir/corpus" >"$dir/log" 2>&1 || status=$?
  echo "$status" >"$dir/status"
}

running=0
for target in $targets; do
  if ((running >= jobs)); then
    wait -n || true
    running=$((running - 1))
  fi
  fuzz_one "$target" &
  running=$((running + 1))
done
wait

# libFuzzer's final statistics (-print_final_stats=1).
stat() { sed -n "s/^stat::$1: *//p" "$2" | tail -n 1; }

failed=0
printf '%-8s %-7s %12s %12s  %s\n' target result "execs/s" executions "corpus (seeds -> after)"
for target in $targets; do
  dir=$run_dir/$target
  status=$(cat "$dir/status")
  result=ok
  if [[ $status != 0 ]]; then
    result=FAILED
    failed=1
  fi
  printf '%-8s %-7s %12s %12s  %s -> %s\n' "$target" "$result" \
    "$(stat average_exec_per_sec "$dir/log")" "$(stat number_of_executed_units "$dir/log")" \
    "$(ls "$source_root/fuzz/corpus/$target" | wc -l)" "$(ls "$dir/corpus" | wc -l)"
done

for target in $targets; do
  dir=$run_dir/$target
  [[ $(cat "$dir/status") == 0 ]] && continue
  echo
  echo "== $target failed (exit status $(cat "$dir/status")); log: $dir/log"
  if grep -q 'invariant violated' "$dir/log"; then
    grep -A3 'invariant violated' "$dir/log" | head -n 4
  else
    grep -E -m1 -A12 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error' "$dir/log" ||
      tail -n 20 "$dir/log"
  fi
  for artifact in "$dir/artifacts"/*; do
    [[ -e $artifact ]] || continue
    echo "artifact: $artifact"
    echo "replay:   $build/fuzz/${target}_fuzzer $artifact"
  done
done
exit "$failed"
