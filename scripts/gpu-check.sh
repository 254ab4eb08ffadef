#!/usr/bin/env bash
# The one script for when a GPU is lent (the `run` tool of this workplace: an x86-64 machine
# with a GPU, a copy of the working tree, no network). Three steps:
#
#   scripts/gpu-check.sh stage [BUILD]   here: builds (BUILD, default build), stages what the
#                                        GPU machine needs into .gpu-check/ (git-ignored
#                                        through .git/info/exclude): the conformance test
#                                        binaries, vkrt-bench, libstdc++, stories260K, the
#                                        Vulkan loader packages; prints the run call to make
#   scripts/gpu-check.sh device [--small] [--out DIR]
#                                        there (DIR default $OUT, else build/gpu-check): the
#                                        kernel conformance suite on the GPU, vkrt-bench
#                                        --devices and --kernels, --synthetic 1B and 7B Q4_0
#                                        (and Q4_K_M where the synthetic writer has it) pp512 +
#                                        tg128; writes DIR/gpu-check.md (docs-ready) and logs.
#                                        --small: the lavapipe try-out (tiny/125M models,
#                                        pp64/tg16, one conformance binary)
#   scripts/gpu-check.sh table DIR       here: copies DIR/gpu-check.md beside
#                                        ../shared/ANCHORS.md as ../shared/GPU-CHECK-<date>.md
#
# Device-time budget (8 minutes; the run tool allows 15 for a whole session): each part has
# its own timeout, all parts together VKRT_GPU_CHECK_BUDGET seconds (default 450; a part past
# it is skipped and listed), and the table records each part's wall time, so a slow part is
# cut and reported instead of eating the lease. Q4_K_M runs where the synthetic writer
# encodes it (--type q4_k_m); otherwise the table says the writer lacks it. Staging sizes: ~25 MB of
# binaries + ~3 MB of loader packages, under the tool's 64 MiB carry limit.
set -uo pipefail
cd "$(dirname "$0")/.."
stage=.gpu-check
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", b - a }'; }

conformance_bins="test_kernels_matmul test_kernels_block test_kernels_kv_cache test_kernels_arch
                  test_kernels_quantize test_kernels_gemm_int8 test_device test_model"

cmd_stage() {
  local build=${1:-build} b
  set -e
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD/..}
  nice cmake --build "$build" -j2 --target vkrt-bench $conformance_bins
  rm -rf "$stage" && mkdir -p "$stage/bin" "$stage/lib" "$stage/models" "$stage/gl"
  for b in $conformance_bins; do cp "$build/tests/$b" "$stage/bin/"; done
  cp "$build/bin/vkrt-bench" "$stage/bin/"
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
  command: scripts/gpu-check.sh device
  carry:   ["$stage"]
then here: scripts/gpu-check.sh table <files_at of that call>
EOF
}

# ---- device: one part at a time, each with a timeout and its wall time
out=""
small=0
declare -a rows=()
budget=${VKRT_GPU_CHECK_BUDGET:-450}  # seconds for all parts: 8 minutes of device time with start-up
T0=""
part() {  # part NAME TIMEOUT CMD... -> log in $out/NAME.log; row of the timing table
  local name=$1 to=$2 t0 rc left
  shift 2
  left=$(awk -v a="$T0" -v b="$(now)" -v B="$budget" 'BEGIN { printf "%d", B - (b - a) }')
  if [ "$left" -lt 10 ]; then
    rows+=("| $name | skipped: budget of ${budget} s spent | 0 |")
    echo "gpu-check: $name: skipped (budget spent)" >&2
    : >"$out/$name.log"
    return 1
  fi
  [ "$to" -le "$left" ] || to=$left
  t0=$(now)
  timeout -k 5 "$to" "$@" >"$out/$name.log" 2>&1
  rc=$?
  local status=ok
  [ $rc -eq 0 ] || status="exit $rc"
  [ $rc -eq 124 ] && status="timeout ${to} s"
  rows+=("| $name | $status | $(secs "$t0" "$(now)") |")
  echo "gpu-check: $name: $status ($(secs "$t0" "$(now)") s)" >&2
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
  local bin=$stage/bin
  T0=$(now)
  # The loader where the machine lacks it (never over a present one).
  if ! ldconfig -p 2>/dev/null | grep -q libvulkan.so.1; then
    for f in "$stage"/gl/*.deb; do [ -f "$f" ] && dpkg -x "$f" /; done
    ldconfig
  fi
  if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
    export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  fi
  export LD_LIBRARY_PATH="$PWD/$stage/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export VKRT_MODELS_DIR="$PWD/$stage/models" VKRT_PIPELINE_CACHE=off
  [ -d "$bin" ] || { echo "gpu-check: $bin missing: run '$0 stage' first (and carry $stage)" >&2; exit 1; }

  part devices 60 "$bin/vkrt-bench" --devices
  # The conformance suite (tests against the C++ reference) on the device; --small: one binary.
  local b bins=$conformance_bins
  [ $small -eq 1 ] && bins="test_kernels_block"
  for b in $bins; do part "$b" 240 "$bin/$b" --no-intro; done
  if [ $small -eq 1 ]; then
    part kernels 240 "$bin/vkrt-bench" --kernels --filter matmul_Q4_0 --reps 1
  else
    part kernels 240 "$bin/vkrt-bench" --kernels --reps 5
  fi
  # Whole models: llama-bench's tests (pp512, tg128); synthetic files written on the machine.
  local synth=/tmp/gpu-check-synth presets types p=512 n=128 r=3
  mkdir -p "$synth"
  presets="1B 7B"
  types="q4_0 q4_k_m"
  if [ $small -eq 1 ]; then presets="tiny 125M"; p=64; n=16; r=1; fi
  local pr ty
  for pr in $presets; do
    for ty in $types; do
      part "model-$pr-$ty" 240 "$bin/vkrt-bench" --synthetic "$pr" --type "$ty" -p "$p" -n "$n" -r "$r" \
        --synthetic-dir "$synth" || true
    done
  done
  part stories260K 60 "$bin/vkrt-bench" -m "$stage/models/stories260K.gguf" -p "$p" -n "$n" -r "$r"

  # ---- the docs-ready table
  local dev drv
  dev=$(sed -n 's/^device: *//p' "$out/devices.log" | head -1)
  drv=$(sed -n 's/^driver: *//p' "$out/devices.log" | head -1)
  {
    echo "# vkrt on $dev"
    echo
    echo "$(date -u +%F), driver $drv, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), by scripts/gpu-check.sh device$([ $small -eq 1 ] && echo ' --small')."
    echo
    echo "## Conformance (kernels against the C++ reference, on this device)"
    echo
    echo "| binary | result |"
    echo "| --- | --- |"
    for b in $bins; do
      echo "| $b | $(grep -E '^\[doctest\] (test cases|assertions)' "$out/$b.log" | sed 's/\[doctest\] //; s/  */ /g; s/ *| */, /g; s/, *$//' |
        tr '\n' ';' | sed 's/;$//; s/;/, /') |"
    done
    echo
    echo "## Whole models (vkrt-bench, like llama-bench; tokens/s, mean ± sd of $r runs)"
    echo
    echo "| model | size | device | test | t/s |"
    echo "| --- | --- | --- | --- | --- |"
    for f in "$out"/model-*.log "$out/stories260K.log"; do
      [ -f "$f" ] || continue
      grep -E '^\| [^-m]' "$f" | grep -v '^| model ' || echo "| $(basename "$f" .log) | - | - | - | $(tail -1 "$f" | cut -c1-100) |"
    done
    echo
    echo "## Kernels (vkrt-bench --kernels)"
    echo
    grep -E '^(device|paths):|^\|' "$out/kernels.log"
    echo
    echo "## Parts and their wall time (s)"
    echo
    echo "| part | status | wall s |"
    echo "| --- | --- | --- |"
    printf '%s\n' "${rows[@]}"
    echo "| total | | $(secs "$T0" "$(now)") |"
  } >"$out/gpu-check.md"
  echo "gpu-check: table in $out/gpu-check.md ($(secs "$T0" "$(now)") s)" >&2
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
