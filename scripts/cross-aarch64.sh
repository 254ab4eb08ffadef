#!/usr/bin/env bash
# Builds vkrt for aarch64-linux-gnu with Debian's cross compiler and multiarch arm64
# packages, then runs the kernel conformance suite and the stories260K greedy test on arm64
# lavapipe under qemu-user. Writes a results table to build-aarch64/aarch64-results.md
# (docs/AARCH64.md has the measured one). Debian 12, as root (or with sudo).
#
#   scripts/cross-aarch64.sh [-j N] [--quick]
#
#   -j N     build jobs (default 2)
#   --quick  the subset CI runs (see QUICK below): a few minutes
#
# Without --quick it runs every case of the kernel conformance executables, the C API test
# and the stories260K greedy test, each case in its own process (docs/AARCH64.md has the
# table and times). Exits nonzero when any case fails or a listed case name matches nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=2
quick=0
while [ $# -gt 0 ]; do
  case "$1" in
    -j) jobs="$2"; shift 2 ;;
    -j*) jobs="${1#-j}"; shift ;;
    --quick) quick=1; shift ;;
    *) echo "usage: $0 [-j N] [--quick]" >&2; exit 2 ;;
  esac
done

# ---- packages: cross compiler, arm64 Vulkan loader + lavapipe, qemu-user ----
sudo_cmd=""
[ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
pkgs="g++-aarch64-linux-gnu libvulkan-dev:arm64 mesa-vulkan-drivers:arm64 qemu-user"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "cross-aarch64: installing$missing"
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $sudo_cmd dpkg --add-architecture arm64
  fi
  $sudo_cmd apt-get update -qq
  # --no-remove: refuse rather than remove native packages to satisfy an arm64 one
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-remove $missing >/dev/null
fi
# The native tools the cross build runs (cmake, glslc, glslang, spirv-val, doctest headers):
# only those, not the whole native list (node, npm, unicode-data serve native tests only).
scripts/apt-install.sh <(printf '%s\n' cmake glslc glslang-tools spirv-tools doctest-dev)

# ---- build ----
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
t0=$(date +%s)
cmake -S . -B build-aarch64 -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/toolchains/aarch64-linux-gnu.cmake" \
  -DVKRT_BUILD_SAMPLES=OFF "${launcher[@]}" >/dev/null
targets="test_kernels_matmul test_kernels_block test_kernels_kv_cache test_kernels_arch test_kernels_quantize
         test_kernels_gemm_int8 test_model test_capi"
# The JNI library too when a JDK is there (its headers are the same on arm64): an Android
# build compiles the same file for the same CPU.
help=$(cmake --build build-aarch64 --target help)
case "$help" in *vkrt_jni*) targets="$targets vkrt_jni" ;; esac
cmake --build build-aarch64 -j"$jobs" --target $targets
t1=$(date +%s)
# e_machine of the ELF header (bytes 18-19) is EM_AARCH64 = 183 (od: coreutils, unlike `file`)
[ "$(od -An -tx1 -j18 -N2 build-aarch64/tests/test_capi | tr -d ' ')" = b700 ] ||
  { echo "cross-aarch64: build-aarch64/tests/test_capi is not an arm64 binary" >&2; exit 1; }

# ---- run under qemu-user on arm64 lavapipe ----
icd=/usr/share/vulkan/icd.d/lvp_icd.aarch64.json
[ -f "$icd" ] || { echo "cross-aarch64: $icd missing (mesa-vulkan-drivers:arm64)" >&2; exit 1; }
export VK_DRIVER_FILES="$icd" VK_ICD_FILENAMES="$icd"
# A cache folder of its own (the pipeline cache goes to $XDG_CACHE_HOME/vkrt): arm64
# lavapipe is another driver build than the native one. Not VKRT_PIPELINE_CACHE, which
# would override the folder test_capi passes in (vkrt_context_params.pipeline_cache_dir).
export XDG_CACHE_HOME="$PWD/build-aarch64/cache"
unset VKRT_PIPELINE_CACHE
unset VKRT_VALIDATION  # no arm64 validation layer is installed; the native suite runs with it

# Each doctest case runs in a process of its own: a driver crash (LLVM aborting on a shader)
# then fails that case only, and the table says which.
# executable | case-name filter ("*" = every case; cases are listed with --list-test-cases)
FULL=(
  "test_model|stories260K: greedy*"
  "test_capi|-"
  "test_kernels_block|*"
  "test_kernels_kv_cache|*"
  "test_kernels_arch|*"
  "test_kernels_quantize|*"
  "test_kernels_gemm_int8|*"
  "test_kernels_matmul|*"
)
# --quick (CI): the stories260K greedy test and the C API test (a whole model on arm64
# lavapipe), every fp16 bit pattern through the shaders' half decoder, the embedding of
# every weight format, and the block kernels that take seconds each under qemu.
QUICK=(
  "test_model|stories260K: greedy*"
  "test_capi|-"
  "test_kernels_matmul|half decoding*"
  "test_kernels_matmul|embed: every format*"
  "test_kernels_block|rmsnorm*"
  "test_kernels_block|softmax*"
  "test_kernels_block|argmax*"
  "test_kernels_block|swiglu*"
  "test_kernels_block|rope*"
  "test_kernels_block|kv_store*"
  "test_kernels_block|attention: decode*"
  "test_kernels_kv_cache|kv_store*"
  "test_kernels_quantize|quantize_rows_i8: matches*"
  "test_kernels_gemm_int8|gemm_int8: quantize -> gemm*"
)
if [ "$quick" = 1 ]; then runs=("${QUICK[@]}"); else runs=("${FULL[@]}"); fi

out=build-aarch64/aarch64-results.md
qemu_version=$(qemu-aarch64 --version | head -1)
mesa_version=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers:arm64)
{
  echo "| executable | test case | result | wall s | CPU s |"
  echo "| --- | --- | --- | ---: | ---: |"
} > "$out"
failed=0
passed=0
TIMEFORMAT='%R %U %S'
n=0
# run_case EXE CASE: one process under qemu; CASE "-" = the whole executable (not doctest)
run_case() {
  local exe="$1" tc="$2" log res wall usr sys cpu detail filter
  n=$((n + 1))
  log="build-aarch64/run-$n.log"
  local args=()
  if [ "$tc" != "-" ]; then
    filter=${tc//,/\\,}  # doctest splits filters at commas
    args=(-tc="$filter")
  fi
  # CPU time (user + system) says more than wall time on a machine shared with other work.
  if { time { (cd build-aarch64/tests && qemu-aarch64 "./$exe" "${args[@]}") >"$log" 2>&1; }; } 2>"$log.time"; then
    res=passed; passed=$((passed + 1))
  else
    res=FAILED; failed=$((failed + 1))
  fi
  # the last line is time's (a crash adds the shell's "Aborted" line before it)
  read -r wall usr sys < <(tail -n 1 "$log.time"; echo) || true
  cpu=$(awk -v u="$usr" -v s="$sys" 'BEGIN { printf "%.0f", u + s }')
  wall=$(awk -v w="$wall" 'BEGIN { printf "%.0f", w }')
  detail=""
  if [ "$res" = FAILED ]; then
    detail=$(grep -m1 -E "LLVM ERROR|ERROR:|FAILED|error" "$log" | cut -c1-120 | sed 's/|/\//g' || true)
    [ -n "$detail" ] && detail=" ($detail)"
  fi
  printf '%-24s %-70.70s %s %5s s wall %5s s CPU%s\n' "$exe" "$tc" "$res" "$wall" "$cpu" "$detail"
  echo "| $exe | ${tc//|//} | $res$detail | $wall | $cpu |" >> "$out"
  if [ "$res" = FAILED ]; then tail -15 "$log"; fi
}
for r in "${runs[@]}"; do
  exe="${r%%|*}"
  pat="${r#*|}"
  if [ "$pat" = "-" ]; then
    run_case "$exe" -
    continue
  fi
  # every case of exe whose name matches pat (a shell pattern); none is a failure (a
  # renamed case, or an executable that cannot even list its cases under qemu)
  matched=0
  while IFS= read -r name; do
    # shellcheck disable=SC2254
    case "$name" in $pat) run_case "$exe" "$name"; matched=$((matched + 1)) ;; esac
  done < <(cd build-aarch64/tests && qemu-aarch64 "./$exe" --list-test-cases --no-version 2>/dev/null |
           grep -v -E '^\[doctest\]|^=+$' | sed '/^$/d')
  if [ "$matched" = 0 ]; then
    echo "cross-aarch64: no test case of $exe matches '$pat'" >&2
    echo "| $exe | ${pat//|//} | FAILED (no test case matches) | | |" >> "$out"
    failed=$((failed + 1))
  fi
done
t2=$(date +%s)
{
  echo
  echo "Build $((t1 - t0)) s (-j$jobs), tests $((t2 - t1)) s; $passed passed, $failed failed; $qemu_version;"
  echo "Mesa lavapipe $mesa_version (arm64)."
} >> "$out"
echo "cross-aarch64: build $((t1 - t0)) s, tests $((t2 - t1)) s; table in $out"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
