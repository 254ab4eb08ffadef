#!/usr/bin/env bash
# The one script for when a GPU is lent (the `run` tool of this workplace: an x86-64 machine
# with a GPU, a copy of the working tree, no network). Three steps:
#
#   scripts/gpu-check.sh stage [--small] [BUILD]
#                                        here: builds (BUILD, default build), stages what the
#                                        GPU machine needs into .gpu-check/ (git-ignored
#                                        through .git/info/exclude): the conformance test
#                                        binaries, vkrt-bench, libstdc++, stories260K, the
#                                        Vulkan loader packages; prints the run call to make.
#                                        --small: only what `device --small` runs (the
#                                        conformance binaries are most of the build)
#   scripts/gpu-check.sh device [--small] [--out DIR]
#                                        there (DIR default $OUT, else build/gpu-check): the
#                                        kernel conformance suite on the GPU, vkrt-bench
#                                        --devices and --kernels, --synthetic 1B and 7B Q4_0
#                                        and Q4_K_M pp512 + tg128 (Q4_K_M: where the synthetic
#                                        writer lacks it, its F16 file through vkrt-quantize's
#                                        q4_k_m preset; not for 7B: ~8 min of one core);
#                                        writes DIR/gpu-check.md (docs-ready) and
#                                        DIR/gpu-check-logs.tar.gz (every part's log), prints a
#                                        summary, exits 1 when any part failed or was skipped.
#                                        --small: the lavapipe try-out (tiny/125M models,
#                                        pp64/tg16, one conformance binary)
#   scripts/gpu-check.sh table DIR       here: copies DIR/gpu-check.md beside
#                                        ../shared/ANCHORS.md as ../shared/GPU-CHECK-<date>.md
#
# Device-time budget (8 minutes; the run tool allows 15 for a whole session): each part has
# its own timeout, all parts together VKRT_GPU_CHECK_BUDGET seconds (default 450; a part past
# it is skipped and listed), and the table records each part's wall time, so a slow part is
# cut and reported instead of eating the lease. The table and the logs' archive are rewritten
# after every part and when the script is stopped (SIGTERM/SIGINT: the run tool's timeout),
# so a cut-off run still brings back what it measured. Two files in DIR: the run tool brings
# back at most 8. Staging sizes: ~25 MB of binaries + ~3 MB of loader packages, under the
# tool's 64 MiB carry limit. The loader: a machine without libvulkan.so.1 gets the staged
# package (or the workplace's .gl/*.deb, /work/.library/device/README.md) unpacked to /.
set -uo pipefail
cd "$(dirname "$0")/.."
stage=.gpu-check
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", b - a }'; }

conformance_bins="test_kernels_matmul test_kernels_block test_kernels_kv_cache test_kernels_arch test_kernels_mmq
                  test_kernels_rope_qkv test_kernels_quantize test_kernels_gemm_int8 test_device test_model"
small_bins="test_kernels_block"  # device --small's conformance part

cmd_stage() {
  local build=build b bins=$conformance_bins
  while [ $# -gt 0 ]; do
    case "$1" in
      --small) bins=$small_bins; shift ;;  # what `device --small` runs: the lavapipe try-out
      *) build=$1; shift ;;
    esac
  done
  set -e
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD/..}
  # shellcheck disable=SC2086
  nice cmake --build "$build" -j2 --target vkrt-bench vkrt-quantize $bins
  rm -rf "$stage" && mkdir -p "$stage/bin" "$stage/lib" "$stage/models" "$stage/gl"
  for b in $bins; do cp "$build/tests/$b" "$stage/bin/"; done
  cp "$build/bin/vkrt-bench" "$build/bin/vkrt-quantize" "$stage/bin/"
  cp "$(g++ -print-file-name=libstdc++.so.6)" "$stage/lib/" 2>/dev/null || true
  cp -L ../shared/models/stories260K.gguf "$stage/models/" 2>/dev/null || true
  # The Vulkan loader for a bare GPU machine (the run tool's README: the NVIDIA driver is
  # there, the loader may not be).
  local o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/gpu-check-apt'
  mkdir -p /tmp/gpu-check-apt/partial
  # shellcheck disable=SC2086
  apt-get $o update -qq >/dev/null 2>&1 || true
  # shellcheck disable=SC2086
  (cd "$stage/gl" && apt-get $o download libvulkan1 >/dev/null 2>&1) || echo "gpu-check: no loader package downloaded"
  grep -qx "/$stage/" .git/info/exclude 2>/dev/null || echo "/$stage/" >>"$(git rev-parse --git-path info/exclude)"
  du -sh "$stage"
  cat <<EOF
Now, with the run tool (timeout_s 540, 8 minutes of device time at most):
  command: scripts/gpu-check.sh device$([ "$bins" = "$conformance_bins" ] || echo ' --small')
  carry:   ["$stage"]
then here: scripts/gpu-check.sh table <files_at of that call>
EOF
}

# ---- device: one part at a time, each with a timeout and its wall time. Whatever happens
# (a part fails, hangs, or the whole call is cut off by the run tool), what was measured so far
# is in DIR: the table is rewritten after every part and on exit (also on SIGTERM/SIGINT),
# and the logs go into one archive (the run tool brings back at most 8 files from $OUT).
out=""
small=0
declare -a rows=()
bins=""
presets=""
types=""
reps=3
budget=${VKRT_GPU_CHECK_BUDGET:-450}  # seconds for all parts: 8 minutes of device time with start-up
T0=""
logs=""     # the parts' logs (a work folder; archived into $out/gpu-check-logs.tar.gz)
failed=0    # parts that did not end with exit 0
part_pid="" # the running part's timeout process
finished=0  # 1 once every part ran (the table says "cut off" otherwise)

# write_table: $out/gpu-check.md from the logs and rows so far, then the logs' archive.
write_table() {
  local dev drv b f
  dev=$(sed -n 's/^device: *//p' "$logs/devices.log" 2>/dev/null | head -1)
  drv=$(sed -n 's/^driver: *//p' "$logs/devices.log" 2>/dev/null | head -1)
  {
    echo "# vkrt on ${dev:-an unknown device (vkrt-bench --devices did not report one)}"
    echo
    echo "$(date -u +%F), driver ${drv:-?}, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), by scripts/gpu-check.sh device$([ $small -eq 1 ] && echo ' --small')."
    [ $finished -eq 1 ] || echo "**Incomplete**: the run stopped before its last part (the parts below say how far it got)."
    echo
    echo "## Conformance (kernels against the C++ reference, on this device)"
    echo
    echo "| binary | result |"
    echo "| --- | --- |"
    for b in $bins; do
      f="$logs/$b.log"
      if [ ! -f "$f" ]; then echo "| $b | not run |"; continue; fi
      echo "| $b | $(grep -E '^\[doctest\] (test cases|assertions)' "$f" | sed 's/\[doctest\] //; s/  */ /g; s/ *| */, /g; s/, *$//' |
        tr '\n' ';' | sed 's/;$//; s/;/, /')$(grep -q '^\[doctest\] Status: SUCCESS' "$f" || echo " (see the log)") |"
    done
    # Kernels a binary could not run on this device (cooperative-matrix GEMMs and attention on
    # a device without the matrices): their cases pass without them, so say which.
    if grep -qh 'MESSAGE: .* not run: ' "$logs"/test_*.log 2>/dev/null; then
      echo
      echo "Not run on this device (not counted as passes):"
      echo
      grep -h 'MESSAGE: .* not run: ' "$logs"/test_*.log | sed 's/^.*MESSAGE: /- /' | sort -u
    fi
    echo
    echo "## Whole models (vkrt-bench, like llama-bench; tokens/s, mean ± sd of $reps runs)"
    echo
    echo "| model | size | device | test | t/s |"
    echo "| --- | --- | --- | --- | --- |"
    for f in "$logs"/model-*.log "$logs/stories260K.log"; do
      [ -f "$f" ] || continue
      grep -E '^\| [^-m]' "$f" | grep -v '^| model ' || echo "| $(basename "$f" .log) | - | - | - | $(tr '\r' '\n' <"$f" | grep -v '^$' | grep -v '^loading' | tail -1 | cut -c1-100) |"
    done
    echo
    echo "## Kernels (vkrt-bench --kernels)"
    echo
    grep -E '^(device|paths):|^\|' "$logs/kernels.log" 2>/dev/null || echo "(not run)"
    echo
    echo "## Parts and their wall time (s)"
    echo
    echo "| part | status | wall s |"
    echo "| --- | --- | --- |"
    [ ${#rows[@]} -eq 0 ] || printf '%s\n' "${rows[@]}"
    echo "| total | | $(secs "$T0" "$(now)") |"
  } >"$out/gpu-check.md.tmp" && mv "$out/gpu-check.md.tmp" "$out/gpu-check.md"
  tar -C "$logs" -czf "$out/gpu-check-logs.tar.gz.tmp" . 2>/dev/null && mv "$out/gpu-check-logs.tar.gz.tmp" "$out/gpu-check-logs.tar.gz"
}

# summary: the parts on stdout (what the run tool's output_tail shows), the table written.
summary() {
  write_table
  echo
  echo "gpu-check summary ($(secs "$T0" "$(now)") s of ${budget} s$([ $finished -eq 1 ] || echo ', CUT OFF'))"
  [ ${#rows[@]} -eq 0 ] || printf '%s\n' "${rows[@]}"
  echo "table: $out/gpu-check.md, logs: $out/gpu-check-logs.tar.gz"
}
on_signal() {
  trap '' TERM INT  # a second signal (timeout(1) signals its whole process group too) must not cut the summary
  [ -z "$part_pid" ] || kill -TERM "$part_pid" 2>/dev/null  # timeout passes it on to the part
  rows+=("| (run) | stopped by a signal | $(secs "$T0" "$(now)") |")
  summary
  exit 130
}

part() {  # part NAME TIMEOUT CMD... -> log in $logs/NAME.log; a row of the timing table
  local name=$1 to=$2 t0 rc left
  shift 2
  left=$(awk -v a="$T0" -v b="$(now)" -v B="$budget" 'BEGIN { printf "%d", B - (b - a) }')
  if [ "$left" -lt 10 ]; then
    rows+=("| $name | skipped: budget of ${budget} s spent | 0 |")
    echo "gpu-check: $name: skipped (budget spent)" >&2
    failed=$((failed + 1))
    return 1
  fi
  [ "$to" -le "$left" ] || to=$left
  t0=$(now)
  # In the background + wait: a TERM to this script runs on_signal at once (bash defers traps
  # while a foreground child runs), and the part's own timeout still ends the part.
  timeout -k 5 "$to" "$@" >"$logs/$name.log" 2>&1 &
  part_pid=$!
  wait $part_pid
  rc=$?
  part_pid=""
  local status=ok
  [ $rc -eq 0 ] || status="exit $rc"
  [ $rc -eq 124 ] && status="timeout ${to} s"
  # 137: timeout's KILL, 5 s after its TERM was not obeyed (a part busy in a driver call)
  [ $rc -eq 137 ] && status="timeout ${to} s (killed)"
  [ $rc -eq 0 ] || failed=$((failed + 1))
  rows+=("| $name | $status | $(secs "$t0" "$(now)") |")
  echo "gpu-check: $name: $status ($(secs "$t0" "$(now)") s)" >&2
  write_table
  return $rc
}

cmd_device() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --small) small=1; shift ;;
      --out) out=$2; shift 2 ;;
      *) echo "usage: $0 device [--small] [--out DIR]" >&2; exit 2 ;;
    esac
  done
  [ -n "$out" ] || out=${OUT:-build/gpu-check}
  mkdir -p "$out"
  out=$(cd "$out" && pwd)
  logs=$(mktemp -d /tmp/gpu-check-logs.XXXXXX)
  local bin=$PWD/$stage/bin
  T0=$(now)
  bins=$conformance_bins
  presets="1B 7B"
  types="q4_0 q4_k_m"
  local p=512 n=128
  if [ $small -eq 1 ]; then bins=$small_bins; presets="tiny 125M"; p=64; n=16; reps=1; fi
  trap on_signal TERM INT
  [ -d "$bin" ] || { echo "gpu-check: $bin missing: run '$0 stage' first (and carry $stage)" >&2; exit 1; }
  # The Vulkan loader where the machine lacks it (never over a present one): the staged
  # package, or the workplace's .gl folder (its README's loader set).
  if ! ldconfig -p 2>/dev/null | grep -q libvulkan.so.1; then
    for f in "$stage"/gl/*.deb .gl/*.deb; do [ -f "$f" ] && dpkg -x "$f" /; done
    ldconfig
  fi
  if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
    export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  fi
  export LD_LIBRARY_PATH="$PWD/$stage/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export VKRT_MODELS_DIR="$PWD/$stage/models" VKRT_PIPELINE_CACHE=off

  part devices 60 "$bin/vkrt-bench" --devices
  # The conformance suite (tests against the C++ reference) on the device; --small: one binary.
  local b
  for b in $bins; do part "$b" 240 "$bin/$b" --no-intro; done
  if [ $small -eq 1 ]; then
    part kernels 240 "$bin/vkrt-bench" --kernels --filter matmul_Q4_0 --reps 1
  else
    part kernels 240 "$bin/vkrt-bench" --kernels --reps 5
  fi
  # Whole models: llama-bench's tests (pp512, tg128); synthetic files written on the machine.
  local synth=/tmp/gpu-check-synth pr ty
  mkdir -p "$synth"
  for pr in $presets; do
    for ty in $types; do
      if "$bin/vkrt-bench" --synthetic tiny --type "$ty" -p 0 -n 0 --synthetic-dir "$synth" >/dev/null 2>&1; then
        part "model-$pr-$ty" 240 "$bin/vkrt-bench" --synthetic "$pr" --type "$ty" -p "$p" -n "$n" -r "$reps" \
          --synthetic-dir "$synth"
      elif [ "$pr" != 7B ]; then
        # The synthetic writer lacks this type (K-quant mixes): the F16 file through
        # vkrt-quantize's llama-quantize preset (one CPU thread: ~10 s per 100M weights).
        part "model-$pr-$ty" 240 bash -c 'set -e; "$1/vkrt-bench" --synthetic "$2" --type f16 -p 0 -n 0 --synthetic-dir "$3"
          "$1/vkrt-quantize" -m "$3/vkrt-synthetic-v2-$2-f16.gguf" -o "$3/$2-$4.gguf" --type "$4" | tail -1
          rm -f "$3/vkrt-synthetic-v2-$2-f16.gguf"
          "$1/vkrt-bench" -m "$3/$2-$4.gguf" -p "$5" -n "$6" -r "$7" | sed "s/| $2-$4.gguf |/| $2 $4 (synthetic, vkrt-quantize) |/"' \
          _ "$bin" "$pr" "$synth" "$ty" "$p" "$n" "$reps"
      else
        rows+=("| model-$pr-$ty | skipped: the synthetic writer lacks $ty, and quantizing 7B takes ~8 min of one core | 0 |")
        failed=$((failed + 1))
      fi
    done
  done
  part stories260K 60 "$bin/vkrt-bench" -m "$stage/models/stories260K.gguf" -p "$p" -n "$n" -r "$reps"
  finished=1
  trap - TERM INT
  summary
  rm -rf "$logs"
  [ $failed -eq 0 ]
}

cmd_table() {
  local dir=${1:?table DIR (the files of the device run)} dst
  [ -f "$dir/gpu-check.md" ] || { echo "gpu-check: $dir/gpu-check.md missing" >&2; exit 1; }
  dst=$(dirname "$(readlink -f ../shared/ANCHORS.md)")/GPU-CHECK-$(date -u +%F).md
  cp "$dir/gpu-check.md" "$dst"
  echo "gpu-check: $dst"
}

case "${1:-}" in
  stage) shift; cmd_stage "$@" ;;
  device) shift; cmd_device "$@" ;;
  table) shift; cmd_table "$@" ;;
  *) sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
