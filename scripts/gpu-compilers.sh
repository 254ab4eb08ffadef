#!/usr/bin/env bash
# Real GPU compilers without a GPU: Mesa's RADV (AMD), NVK (NVIDIA), turnip (Adreno) and panvk
# (Mali) on no-op kernel drivers (package mesa-drm-shim), in Debian 13 (trixie) roots, driven by
# vkrt's own host-built binaries. docs/GPU.md has the figures and how to read them.
#
#   scripts/gpu-compilers.sh root amd64|arm64        create (or reuse) a root; prints its path
#   scripts/gpu-compilers.sh targets                 the target names and their drivers
#   scripts/gpu-compilers.sh env TARGET              the environment of TARGET (VAR=value lines)
#   scripts/gpu-compilers.sh run TARGET CMD [ARG...] run CMD in TARGET's root with its environment
#   scripts/gpu-compilers.sh stats [--gate] [TARGET...]
#                                                    vkrt-bench --shader-stats on each target (all
#                                                    by default); tables to $VKRT_GPU_OUT
#                                                    (g52: --allow-vulkan-1.0, compiler figures of a
#                                                    device the runtime refuses)
#   scripts/gpu-compilers.sh report [TARGET...]      markdown summary of the stats files (docs/GPU.md)
#   scripts/gpu-compilers.sh expect [TARGET...]      only the expectations of tests/gpu/profiles.txt
#                                                    against `--devices` (run when its file is
#                                                    missing) and the stats table already in
#                                                    $VKRT_GPU_OUT: no model run
#   scripts/gpu-compilers.sh profiles [TARGET...]    vendor profiles end to end: --devices, the
#                                                    variant-choice test, stories260K and a
#                                                    synthetic 1B decoding a few tokens
#
# Environment:
#   VKRT_GPU_ROOTS   where the roots live (default /var/cache/vkrt/gpu-roots): outside the repo,
#                    so CI on the same machine reuses them and a fresh machine rebuilds them
#   VKRT_BUILD       the host (amd64) build folder (default build)
#   VKRT_BUILD_ARM64 the aarch64 cross build (default build-aarch64, scripts/cross-aarch64.sh)
#   VKRT_GPU_OUT     where stats/profiles write their files (default $VKRT_BUILD/gpu)
#   VKRT_GPU_TIMEOUT seconds a whole target may take before it counts as hung (default 1800)
#   VKRT_GPU_NICE    niceness of the compiling runs (default 10: a shared machine)
#   VKRT_GPU_JOBS    targets `stats` and `profiles` run at once (default 1; each emulated phone
#                    target keeps one core busy, so 2 on a 2-core machine)
#   VKRT_GPU_UNITS   only the --shader-stats units matching this regex (vkrt-bench --units;
#                    default all): a partial table, e.g. CI's phone pass
#   VKRT_GPU_PROFILE_PRESET  the synthetic model of `profiles` (default 1B; tiny/125M where
#                    the machine is too loaded for emulated 1B loads)
#   VKRT_GPU_BIND    more host folders (colon-separated) bind-mounted at their own paths, e.g.
#                    another worktree whose binaries `run` should start
#
# A command runs in the root through chroot in a private mount namespace (unshare -m): the
# repository and ../shared are bind-mounted at their own paths, so host paths work inside,
# and the mounts vanish with the command. Binaries built on Debian 12 run there unchanged
# (trixie's libc and libstdc++ are newer). The arm64 root runs under qemu-user through
# binfmt_misc (qemu-user-static, binfmt-support): the phone drivers are aarch64 Mesa builds,
# so they run the aarch64 cross build of vkrt.
#
# Needs root (debootstrap, mmdebstrap, chroot, mounts). Creating the amd64 root takes ~2 min
# and ~1 GB, the arm64 one ~2 min and ~0.3 GB (unpacked, not installed: extract_root); later
# runs reuse them (a stamp file records the package list; change it and the root is rebuilt).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
roots=${VKRT_GPU_ROOTS:-/var/cache/vkrt/gpu-roots}
build=${VKRT_BUILD:-build}
build_arm64=${VKRT_BUILD_ARM64:-build-aarch64}
out=${VKRT_GPU_OUT:-$build/gpu}
target_timeout=${VKRT_GPU_TIMEOUT:-1800}
mirror=${VKRT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=trixie

# Packages of each root: the drivers, the no-op shims, vulkaninfo and the validation layer.
pkgs_common="mesa-vulkan-drivers mesa-drm-shim vulkan-tools vulkan-validationlayers"
pkgs_amd64="$pkgs_common"
pkgs_arm64="$pkgs_common"

# ---------------------------------------------------------------- targets
# name|arch|driver|environment (space-separated VAR=value)|extra --shader-stats flags. The shims
# stand in for the kernel driver: memory, command buffers, submits and waits succeed as no-ops,
# so a whole vkrt program runs (its numbers are meaningless) while the real compiler builds
# every pipeline. panvk exposes Bifrost (G52) as Vulkan 1.0, which the runtime refuses before
# any pipeline (kept: its kernels need 1.1); its stats open it anyway for the compiler's
# figures (--allow-vulkan-1.0), and the table says so.
amd_shim=/usr/lib/x86_64-linux-gnu/libamdgpu_noop_drm_shim.so
nv_shim=/usr/lib/x86_64-linux-gnu/libnouveau_noop_drm_shim.so
fd_shim=/usr/lib/aarch64-linux-gnu/libfreedreno_noop_drm_shim.so
pan_shim=/usr/lib/aarch64-linux-gnu/libpanfrost_noop_drm_shim.so
radv_icd=/usr/share/vulkan/icd.d/radeon_icd.json
nvk_icd=/usr/share/vulkan/icd.d/nouveau_icd.json
fd_icd=/usr/share/vulkan/icd.d/freedreno_icd.json
pan_icd=/usr/share/vulkan/icd.d/panfrost_icd.json
target_table() {
  cat <<EOF
navi31|amd64|RADV RDNA3 (RX 7900)|LD_PRELOAD=$amd_shim AMDGPU_GPU_ID=navi31 VK_DRIVER_FILES=$radv_icd
navi21|amd64|RADV RDNA2 (RX 6800/6900)|LD_PRELOAD=$amd_shim AMDGPU_GPU_ID=navi21 VK_DRIVER_FILES=$radv_icd
vega10|amd64|RADV GCN5 (Vega 56/64)|LD_PRELOAD=$amd_shim AMDGPU_GPU_ID=vega10 VK_DRIVER_FILES=$radv_icd
polaris10|amd64|RADV GCN4 (RX 470/480)|LD_PRELOAD=$amd_shim AMDGPU_GPU_ID=polaris10 VK_DRIVER_FILES=$radv_icd
ga102|amd64|NVK Ampere (RTX 3080/3090)|LD_PRELOAD=$nv_shim NOUVEAU_CHIPSET=0x172 VK_DRIVER_FILES=$nvk_icd
tu102|amd64|NVK Turing (RTX 2080 Ti)|LD_PRELOAD=$nv_shim NOUVEAU_CHIPSET=0x162 VK_DRIVER_FILES=$nvk_icd
a630|arm64|turnip Adreno 630 (Snapdragon 845)|LD_PRELOAD=$fd_shim FD_GPU_ID=630 VK_DRIVER_FILES=$fd_icd
a660|arm64|turnip Adreno 660 (Snapdragon 888)|LD_PRELOAD=$fd_shim FD_GPU_ID=660 VK_DRIVER_FILES=$fd_icd
a740|arm64|turnip Adreno 740 (Snapdragon 8 Gen 2)|LD_PRELOAD=$fd_shim FD_GPU_ID=740 VK_DRIVER_FILES=$fd_icd
g610|arm64|panvk Mali-G610 (Valhall)|LD_PRELOAD=$pan_shim PAN_GPU_ID=a867 BIFROST_MESA_DEBUG=shaderdb VK_DRIVER_FILES=$pan_icd
g52|arm64|panvk Mali-G52 (Bifrost)|LD_PRELOAD=$pan_shim PAN_GPU_ID=7212 PAN_I_WANT_A_BROKEN_VULKAN_DRIVER=1 BIFROST_MESA_DEBUG=shaderdb VK_DRIVER_FILES=$pan_icd|--allow-vulkan-1.0
EOF
}
all_targets() { target_table | cut -d'|' -f1; }
target_field() {  # target_field NAME FIELD(2..5)
  local line
  line=$(target_table | grep "^$1|") || { echo "gpu-compilers: unknown target '$1' (targets: $(all_targets | tr '\n' ' '))" >&2; exit 2; }
  echo "$line" | cut -d'|' -f"$2"
}

log() { echo "gpu-compilers: $*" >&2; }
now() { date +%s; }

# ---------------------------------------------------------------- host tools
host_tools() {
  local need=() arch=$1
  command -v debootstrap >/dev/null || need+=(debootstrap)
  if [ "$arch" = arm64 ]; then
    command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
    command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
    command -v update-binfmts >/dev/null || need+=(binfmt-support)
  fi
  if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]} on the host"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-remove "${need[@]}" >/dev/null
  fi
  if [ "$arch" = arm64 ]; then
    # arm64 programs in the root run through binfmt_misc + qemu-aarch64-static (flag F: the
    # interpreter is opened at registration, so the root needs no copy of it).
    [ -e /proc/sys/fs/binfmt_misc/status ] || mount binfmt_misc -t binfmt_misc /proc/sys/fs/binfmt_misc
    [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64
    grep -q enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 ||
      { log "binfmt qemu-aarch64 is not enabled"; exit 1; }
  fi
}

# ---------------------------------------------------------------- roots
# ensure_root ARCH: the root's path on stdout; built when absent or when its package list
# changed. A lock keeps two CI jobs from building the same root at once.
ensure_root() {
  local arch=$1 dir="$roots/$1" pkgs stamp
  case "$arch" in amd64) pkgs=$pkgs_amd64 ;; arm64) pkgs=$pkgs_arm64 ;; *) log "root: amd64 or arm64"; exit 2 ;; esac
  stamp="$suite $arch: $pkgs"
  mkdir -p "$roots"
  exec 9>"$roots/.$arch.lock"
  flock 9
  if [ -f "$dir/.vkrt-root" ] && [ "$(cat "$dir/.vkrt-root")" = "$stamp" ]; then
    flock -u 9
    echo "$dir"
    return
  fi
  host_tools "$arch"
  local t0 tmp="$roots/$arch.tmp"
  t0=$(now)
  log "building the $suite $arch root in $dir (packages: $pkgs)"
  if [ "$arch" != "$(dpkg --print-architecture)" ]; then
    # a foreign architecture: unpacked, not installed (extract_root)
    extract_root "$arch" "$tmp" "$pkgs"
  else
    # minbase: apt and dpkg only; the packages come in through apt inside the root, so the
    # drivers' dependencies are resolved by apt rather than listed here. A finished debootstrap
    # is marked, so an interrupted package step resumes without redoing it.
    if [ ! -f "$tmp/.vkrt-debootstrap-ok" ]; then
      rm -rf "$tmp"
      nice debootstrap --arch="$arch" --variant=minbase "$suite" "$tmp" "$mirror" >"$roots/$arch.debootstrap.log" 2>&1 ||
        { tail -20 "$roots/$arch.debootstrap.log" >&2; log "debootstrap failed (log: $roots/$arch.debootstrap.log)"; exit 1; }
      touch "$tmp/.vkrt-debootstrap-ok"
      log "$arch: debootstrap done in $(($(now) - t0)) s"
    fi
    in_root_raw "$tmp" sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive nice apt-get install -y -qq --no-install-recommends $pkgs >/dev/null && apt-get clean"
  fi
  echo "$stamp" >"$tmp/.vkrt-root"
  rm -rf "$dir"
  mv "$tmp" "$dir"
  log "$arch root ready in $(($(now) - t0)) s ($(du -sh "$dir" | cut -f1))"
  flock -u 9
  echo "$dir"
}

# extract_root ARCH DIR PACKAGES: a root of a foreign architecture without emulating its
# installation. debootstrap's second stage and apt's package scripts would run every arm64
# program of the installation under qemu-user (46 min on this 2-core machine, 2026-12-06);
# mmdebstrap's `extract` variant resolves the packages' dependency closure with the host's
# apt (APT::Architecture=ARCH) and only unpacks it (dpkg-deb): ~100 s, no foreign program run.
# No maintainer script runs, which these packages do not need: the drivers, shims, layers and
# ICD/layer JSONs are plain files. What an installation would add and the runs need: the
# merged-/usr links (the aarch64 binaries' interpreter is /lib/ld-linux-aarch64.so.1), /proc
# and /sys for the mounts, and the dynamic linker's cache (the root's own ldconfig, the one
# foreign program run here, a second under qemu). coreutils: env, nice and timeout in the root.
extract_root() {
  local arch=$1 tmp=$2 pkgs=$3 d
  rm -rf "$tmp"
  nice mmdebstrap --architectures="$arch" --variant=extract --include="$pkgs coreutils libc-bin" \
    "$suite" "$tmp" "$mirror" >"$roots/$arch.mmdebstrap.log" 2>&1 ||
    { tail -20 "$roots/$arch.mmdebstrap.log" >&2; log "mmdebstrap failed (log: $roots/$arch.mmdebstrap.log)"; exit 1; }
  for d in bin lib sbin; do [ -e "$tmp/$d" ] || ln -s "usr/$d" "$tmp/$d"; done
  mkdir -p "$tmp/proc" "$tmp/sys" "$tmp/tmp"
  chroot "$tmp" /usr/sbin/ldconfig
}

# in_root_raw DIR CMD...: CMD in DIR with /proc, /dev, /sys, the repository and ../shared at
# their host paths, in a mount namespace of its own (nothing to clean up after a crash).
in_root_raw() {
  local dir=$1
  shift
  local shared
  shared=$(readlink -f "$repo/../shared" 2>/dev/null || true)
  # shellcheck disable=SC2016
  unshare -m --propagation private bash -c '
    set -e
    d=$1; repo=$2; shared=$3; shift 3
    mount -t proc proc "$d/proc"
    mount --rbind /dev "$d/dev"
    mount --rbind /sys "$d/sys"
    mkdir -p "$d/tmp" "$d$repo"
    chmod 1777 "$d/tmp"
    mount --bind "$repo" "$d$repo"
    if [ -n "$shared" ] && [ -d "$shared" ]; then
      mkdir -p "$d$shared" "$d$(dirname "$repo")/shared"
      mount --bind "$shared" "$d$shared"
      [ "$shared" = "$(dirname "$repo")/shared" ] || mount --bind "$shared" "$d$(dirname "$repo")/shared"
    fi
    [ -f /etc/resolv.conf ] && cp /etc/resolv.conf "$d/etc/resolv.conf" 2>/dev/null || true
    IFS=: read -r -a extra <<<"${VKRT_GPU_BIND:-}"
    for b in "${extra[@]}"; do
      [ -n "$b" ] || continue
      b=$(readlink -f "$b")
      mkdir -p "$d$b"
      mount --bind "$b" "$d$b"
    done
    exec chroot "$d" /usr/bin/env -C "$repo" "$@"
  ' in-root "$dir" "$repo" "$shared" "$@"
}

# run_target TARGET CMD...: CMD in the target's root with the target's environment.
run_target() {
  local t=$1
  shift
  local arch dir
  arch=$(target_field "$t" 2)
  dir=$(ensure_root "$arch")
  # shellcheck disable=SC2046
  in_root_raw "$dir" env HOME=/tmp XDG_RUNTIME_DIR=/tmp XDG_CACHE_HOME=/tmp/vkrt-cache-"$t" MESA_SHADER_CACHE_DISABLE=true \
    VKRT_PIPELINE_CACHE=off $(target_field "$t" 4) "$@"
}

# The vkrt-bench of a target's architecture (host build for amd64, the cross build for arm64).
bench_of() {
  case "$(target_field "$1" 2)" in
    amd64) echo "$repo/$build/bin/vkrt-bench" ;;
    arm64) echo "$repo/$build_arm64/bin/vkrt-bench" ;;
  esac
}
need_bench() {
  local b
  b=$(bench_of "$1")
  [ -x "$b" ] || { log "$b is missing: build it first (cmake --build $build --target vkrt-bench, or for the phone targets scripts/cross-aarch64.sh + --target vkrt-bench)"; exit 1; }
  echo "$b"
}

# ---------------------------------------------------------------- stats
# One target: vkrt-bench --shader-stats (it compiles every pipeline the runtime chooses on that
# device, each under a 30 s watchdog) -> $out/stats-TARGET.tsv and .md. Returns the bench's
# exit status (with --gate: nonzero on a failure, hang, spill or scratch).
stats_one() {
  local t=$1 gate=$2 b t0 rc=0
  b=$(need_bench "$t")
  mkdir -p "$out"
  t0=$(now)
  log "$t: shader stats ($(target_field "$t" 3))"
  local extra=() units=${VKRT_GPU_UNITS:-}
  read -r -a extra <<<"$(target_field "$t" 5)"
  [ -z "$units" ] || extra+=(--units "$units")
  timeout -k 10 "$target_timeout" "$repo/scripts/gpu-compilers.sh" run "$t" nice -n "${VKRT_GPU_NICE:-10}" "$b" \
    --shader-stats --verbose --target "$t" --tsv "$out/stats-$t.tsv" $gate "${extra[@]}" >"$out/stats-$t.md" 2>"$out/stats-$t.log" || rc=$?
  [ $rc -eq 124 ] && log "$t: the whole run passed ${target_timeout} s (VKRT_GPU_TIMEOUT)"
  log "$t: $(grep -c . "$out/stats-$t.tsv" 2>/dev/null || echo 0) rows, exit $rc, $(($(now) - t0)) s"
  return $rc
}

# each_target FUNC TARGET... [-- ARG...]: FUNC TARGET ARG... for every target, VKRT_GPU_JOBS at
# once; the targets whose FUNC failed in the array failed_targets (each one's exit status
# through a file: a background job's status is only that of its own subshell).
failed_targets=()
each_target() {
  local fn=$1 t targets=() args=() jobs=${VKRT_GPU_JOBS:-1} running=0 st
  shift
  while [ $# -gt 0 ] && [ "$1" != -- ]; do targets+=("$1"); shift; done
  [ $# -gt 0 ] && shift && args=("$@")
  failed_targets=()
  st=$(mktemp -d)
  for t in "${targets[@]}"; do
    if [ "$jobs" -le 1 ]; then
      "$fn" "$t" "${args[@]}" || failed_targets+=("$t")
      continue
    fi
    if [ $running -ge "$jobs" ]; then wait -n || true; running=$((running - 1)); fi
    { rc=0; "$fn" "$t" "${args[@]}" || rc=$?; echo $rc >"$st/$t"; } &
    running=$((running + 1))
  done
  wait || true
  for t in "${targets[@]}"; do
    [ "$jobs" -le 1 ] || [ "$(cat "$st/$t" 2>/dev/null || echo 1)" = 0 ] || failed_targets+=("$t")
  done
  rm -rf "$st"
}

cmd_stats() {
  local gate="" targets=() t fails=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --gate) gate=--gate; shift ;;
      *) targets+=("$1"); shift ;;
    esac
  done
  [ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(all_targets)
  each_target stats_one "${targets[@]}" -- "$gate"
  fails=("${failed_targets[@]}")
  if [ ${#fails[@]} -gt 0 ]; then
    log "failed targets: ${fails[*]} (see $out/stats-TARGET.md)"
    for t in "${fails[@]}"; do
      grep -E '^(problem|unit error): ' "$out/stats-$t.md" | sed "s/^/$t: /" >&2 || tail -5 "$out/stats-$t.log" >&2
    done
    return 1
  fi
}

# ---------------------------------------------------------------- report
# Markdown for docs/GPU.md from $out/stats-TARGET.{md,tsv}: one summary row per target, the
# hot kernel families' registers and lowest occupancy, and every problem the gate counts.
family_awk='
function family(k) {
  if (k ~ /^matvec_|^gemv_int8/) return "GEMV"
  if (k ~ /^gemm/) return "GEMM"
  if (k ~ /^attention_flash/) return "attention (prefill)"
  if (k ~ /^attention/) return "attention (decode)"
  if (k ~ /quantize/) return "quantize"
  if (k ~ /^rmsnorm|^softmax/) return "norm"
  if (k ~ /^rope/) return "rope"
  if (k ~ /^kv_store/) return "KV store"
  return "other"
}'
cmd_report() {
  local targets=("$@") t
  [ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(all_targets)
  echo "| target | device (driver) | pipelines | compile failures | hangs | spilling | with scratch | max registers | lowest occupancy |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  for t in "${targets[@]}"; do
    [ -f "$out/stats-$t.tsv" ] || continue
    local dev
    dev=$(sed -n '1s/^# shader statistics: \(.*\), target .*/\1/p' "$out/stats-$t.md")
    grep -q '^device refused at runtime' "$out/stats-$t.md" &&
      dev="$dev: **device refused at runtime ($(sed -n 's/^device refused at runtime (\(Vulkan [0-9.]*\);.*/\1/p' "$out/stats-$t.md")); compiler figures only**"
    grep -q '^units matching ' "$out/stats-$t.md" && dev="$dev (partial: $(sed -n 's/^units matching \(.*\) only.*/units \1/p' "$out/stats-$t.md"))"
    awk -F'\t' -v t="$t" -v dev="$dev" 'NR > 1 {
        n++; if ($4 == "error") e++; if ($4 == "hang") h++
        if ($8 != "-" && $8 > 0) sp++; if ($9 != "-" && $9 > 0) sc++
        if ($5 != "-" && $5 + 0 > mr) { mr = $5 + 0; mru = $7 }
        if ($12 != "-" && (mo == "" || $12 + 0 < mo)) { mo = $12 + 0; mou = $13; mok = $1 }
      } END {
        printf "| %s | %s | %d | %d | %d | %d | %d | %s | %s |\n", t, dev, n, e, h, sp, sc,
          mr ? mr " " mru : "-", mo != "" ? mo " " mou " (" mok ")" : "-"
      }' "$out/stats-$t.tsv"
  done
  echo
  echo "Hot kernels: the most registers and the lowest occupancy among the pipelines of each family."
  echo
  echo "| target | family | pipelines | max registers | lowest occupancy (kernel [specialization]) |"
  echo "| --- | --- | --- | --- | --- |"
  for t in "${targets[@]}"; do
    [ -f "$out/stats-$t.tsv" ] || continue
    awk -F'\t' -v t="$t" "$family_awk"'
      NR > 1 && $4 == "ok" {
        f = family($1); if (f == "other") next
        n[f]++
        if ($5 != "-" && $5 + 0 > mr[f]) { mr[f] = $5 + 0; u[f] = $7 }
        if ($12 != "-" && (!(f in mo) || $12 + 0 < mo[f])) { mo[f] = $12 + 0; ou[f] = $13; ok[f] = $1 " [" $2 "]" }
      } END {
        split("GEMV GEMM attention_(decode) attention_(prefill) quantize norm rope KV_store", order, " ")
        for (i = 1; i <= 8; i++) {
          f = order[i]; gsub(/_/, " ", f); if (!(f in n)) continue
          printf "| %s | %s | %d | %s | %s |\n", t, f, n[f], mr[f] ? mr[f] " " u[f] : "-",
            (f in mo) ? mo[f] " " ou[f] " (" ok[f] ")" : "-"
        }
      }' "$out/stats-$t.tsv"
  done
  echo
  echo "Problems (what --gate fails on):"
  echo
  local any=0
  for t in "${targets[@]}"; do
    [ -f "$out/stats-$t.md" ] || continue
    grep '^problem: ' "$out/stats-$t.md" | sed "s/^problem: /- $t: /" && any=1
  done
  [ $any -eq 1 ] || echo "- none"
}

# ---------------------------------------------------------------- profiles
# Vendor profiles end to end, with the validation layer on: the capability report, the
# expectations of tests/gpu/profiles.txt (what the device reports, which variants the
# runtime chooses there), stories260K and a synthetic 1B Q4_K_M (written once by the host
# build, then shared by every target) decoding a few tokens. A validation message, an error
# or a failed expectation fails the target. Output: $out/profile-TARGET.md.
expect_file=tests/gpu/profiles.txt
profile_preset=${VKRT_GPU_PROFILE_PRESET:-1B}
check_expectations() {  # check_expectations TARGET REPORT_FILE STATS_TSV -> failures on stdout
  local t=$1 report=$2 tsv=$3 kind re
  while IFS=$'\t' read -r tt kind re; do
    [ "$tt" = "$t" ] || continue
    # Without the stats table (a stats run cut off by VKRT_GPU_TIMEOUT) a variant check
    # cannot hold: "not-chosen" would pass on nothing.
    if [ "$kind" != report ] && [ ! -s "$tsv" ]; then
      echo "no stats table ($tsv) for: $kind /$re/"
      continue
    fi
    case "$kind" in
      report) grep -Eq -- "$re" "$report" || echo "expected a report line matching /$re/" ;;
      chosen) tail -n +2 "$tsv" | cut -f1 | grep -Eq -- "$re" || echo "expected a pipeline matching /$re/" ;;
      not-chosen)
        local hit
        hit=$(tail -n +2 "$tsv" | cut -f1 | grep -E -- "$re" | sort -u | tr '\n' ' ')
        [ -z "$hit" ] || echo "expected no pipeline matching /$re/, got: $hit" ;;
      # the same over "kernel[specialization]", e.g. matvec_q4_0[32,2,1,0,0,1]
      spec-chosen) tail -n +2 "$tsv" | awk -F'\t' '{print $1 "[" $2 "]"}' | grep -Eq -- "$re" ||
        echo "expected a pipeline[specialization] matching /$re/" ;;
      spec-not-chosen)
        local hit
        hit=$(tail -n +2 "$tsv" | awk -F'\t' '{print $1 "[" $2 "]"}' | grep -E -- "$re" | sort -u | head -5 | tr '\n' ' ')
        [ -z "$hit" ] || echo "expected no pipeline[specialization] matching /$re/, got: $hit" ;;
      *) echo "bad line in $expect_file: $tt $kind $re" ;;
    esac
  done < <(grep -v '^#' "$expect_file")
}

# synthetic_q4_k_m DIR PRESET: a synthetic model (vkrt-bench --synthetic PRESET) in
# llama-quantize's Q4_K_M mix (Q4_K, Q6_K for half of attn_v/ffn_down and the output), written
# once natively by the host build -- under qemu it would take many minutes -- and shared by
# every target; its path on stdout. The synthetic writer encodes F32/F16/Q4_0/Q8_0/W8A8, so its
# F16 file goes through vkrt-quantize (one thread: ~10 s per 100M weights on an idle core).
synthetic_q4_k_m() {
  local dir=$1 preset=$2 f16 q
  q="$dir/$preset-q4_k_m.gguf"
  f16="$dir/vkrt-synthetic-v2-$preset-f16.gguf"
  mkdir -p "$dir"
  if [ ! -f "$q" ]; then
    # vkrt-bench writes the file (complete once it has its name), then loads it, which may
    # fail on the host's device (lavapipe: 2 GiB heap, the F16 1B needs 2.1 GiB): its exit
    # status is not the writer's.
    { [ -f "$f16" ] || nice "$repo/$build/bin/vkrt-bench" --synthetic "$preset" --type f16 -p 0 -n 0 --synthetic-dir "$dir" || true
      [ -f "$f16" ] && nice "$repo/$build/bin/vkrt-quantize" -m "$f16" -o "$q.tmp" --type q4_k_m &&
        mv "$q.tmp" "$q"; } >"$dir/$preset-q4_k_m.log" 2>&1 || log "writing the synthetic $preset Q4_K_M failed ($dir/$preset-q4_k_m.log)"
    rm -f "$f16" "$q.tmp"
  fi
  echo "$q"
}

profiles_one() {
  local t=$1 b t0 rc=0 model synth_dir f
  b=$(need_bench "$t")
  mkdir -p "$out"
  t0=$(now)
  f="$out/profile-$t.md"
  model=$(readlink -f "$repo/../shared/models/stories260K.gguf" 2>/dev/null || true)
  synth_dir="$repo/$build/gpu/synthetic"
  synth_q=$(synthetic_q4_k_m "$synth_dir" "$profile_preset")
  run_in() { "$repo/scripts/gpu-compilers.sh" run "$t" env VKRT_VALIDATION=1 "$@"; }
  {
    echo "# $t: $(target_field "$t" 3)"
    echo
    echo '## vkrt-bench --devices'
    run_in "$b" --devices >"$out/devices-$t.txt" 2>&1 || { echo "FAIL: --devices"; rc=1; }
    sed 's/^/    /' "$out/devices-$t.txt"
    if [ ! -f "$out/stats-$t.tsv" ]; then stats_one "$t" "" || true; fi
    echo
    echo '## expectations (tests/gpu/profiles.txt)'
    local fails n
    fails=$(check_expectations "$t" "$out/devices-$t.txt" "$out/stats-$t.tsv")
    n=$(grep -c "^$t"$'\t' "$expect_file" || true)
    if [ -n "$fails" ]; then echo "$fails" | sed 's/^/FAIL: /'; rc=1; else echo "$n checks passed"; fi
    for run in "stories260K|-m $model -p 8 -n 4 -r 1" \
               "synthetic $profile_preset Q4_K_M|-m $synth_q -p 8 -n 4 -r 1"; do
      echo
      echo "## ${run%%|*}"
      local log="$out/profile-$t.run.log" r=0
      # shellcheck disable=SC2086
      run_in "$b" ${run#*|} >"$log" 2>&1 || r=$?
      grep -v '^DRM_IOCTL\|^loading' "$log" | tr '\r' '\n' | grep -v '^loading' | sed 's/^/    /'
      [ $r -eq 0 ] || { echo "FAIL: exit $r"; rc=1; }
      if grep -q 'validation \(error\|warning\)' "$log"; then echo "FAIL: validation messages"; rc=1; fi
    done
  } >"$f" 2>&1
  log "$t: profile end to end: exit $rc, $(($(now) - t0)) s ($f)"
  return $rc
}

# expect_one TARGET: the expectations of tests/gpu/profiles.txt against the target's
# `vkrt-bench --devices` report ($out/devices-TARGET.txt, made when missing) and its stats
# table ($out/stats-TARGET.tsv, from `stats`); nothing else runs.
expect_one() {
  local t=$1 b fails n
  b=$(need_bench "$t")
  mkdir -p "$out"
  [ -s "$out/devices-$t.txt" ] ||
    "$repo/scripts/gpu-compilers.sh" run "$t" env VKRT_VALIDATION=1 "$b" --devices >"$out/devices-$t.txt" 2>&1 ||
    { log "$t: --devices failed ($out/devices-$t.txt)"; return 1; }
  fails=$(check_expectations "$t" "$out/devices-$t.txt" "$out/stats-$t.tsv")
  n=$(grep -c "^$t"$'\t' "$expect_file" || true)
  if [ -n "$fails" ]; then
    echo "$fails" | sed "s/^/$t: FAIL: /"
    return 1
  fi
  echo "$t: $n checks passed ($out/devices-$t.txt, $out/stats-$t.tsv)"
}

cmd_expect() {
  local targets=("$@") t rc=0
  [ ${#targets[@]} -gt 0 ] || targets=(navi31 navi21 ga102 a630 a740 g610)
  for t in "${targets[@]}"; do expect_one "$t" || rc=1; done
  return $rc
}

cmd_profiles() {
  local targets=("$@") t fails=()
  [ ${#targets[@]} -gt 0 ] || targets=(navi31 navi21 ga102 a630 a740 g610)
  # The synthetic model once, before targets run side by side (VKRT_GPU_JOBS).
  synthetic_q4_k_m "$repo/$build/gpu/synthetic" "$profile_preset" >/dev/null
  each_target profiles_one "${targets[@]}"
  fails=("${failed_targets[@]}")
  [ ${#fails[@]} -eq 0 ] && return 0
  log "profile failures: ${fails[*]} (see $out/profile-TARGET.md)"
  for t in "${fails[@]}"; do grep '^FAIL' "$out/profile-$t.md" | sed "s/^/$t: /" >&2; done
  return 1
}

# ---------------------------------------------------------------- main
[ "$(id -u)" -eq 0 ] || { log "needs root (debootstrap, chroot, mounts): run with sudo"; exit 1; }
cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  root) ensure_root "${1:?root amd64|arm64}" ;;
  targets) target_table | awk -F'|' '{printf "%-10s %-6s %s\n", $1, $2, $3}' ;;
  env) target_field "${1:?env TARGET}" 4 | tr ' ' '\n' ;;
  run) t=${1:?run TARGET CMD...}; shift; run_target "$t" "$@" ;;
  stats) cmd_stats "$@" ;;
  report) cmd_report "$@" ;;
  profiles) cmd_profiles "$@" ;;
  expect) cmd_expect "$@" ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
