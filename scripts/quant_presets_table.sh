#!/usr/bin/env bash
# docs/QUANTIZATION.md's preset table: every llama-quantize preset written by vkrt-quantize
# from ../shared/models/arch/padded256-f32.gguf, with importance-aware scales from
# calibration (--scales imatrix), its size, bits per weight and
# `vkrt-bench --perplexity tinystories_valid_head.txt -c 512 --chunks 20 -ctk f32 -ctv f32`.
#
# Calibration text: tinystories_valid_head.txt from the first line break at or after byte
# 400000 to the end (written to a temporary file; the evaluation reads the first 20 x 512
# tokens, about 26 KB, so the two never overlap), CALIB_TOKENS tokens (default 16384 = 32
# sequences of 512). The same text file is what llama-imatrix gets for the llama.cpp column
# (LLAMA_CPP_BUILD set: llama-imatrix -f CALIB -c 512 --chunks 32, then llama-quantize
# --imatrix, measured with the same vkrt-bench command).
# GPTQ=1: the vkrt files with --gptq (error feedback, runtime/quant/gptq.hpp) as well.
# AWQ=1: the vkrt files with --awq (activation-aware scales folded first, runtime/quant/awq.hpp).
# OUT_DIR=DIR keeps the files; a DIR/vkrt.imatrix.gguf (and DIR/llama.imatrix.gguf) from an
# earlier run with the same CALIB_TOKENS is reused instead of calibrating again (minutes here).
#   scripts/quant_presets_table.sh [BUILD_DIR] [PRESETS...]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true
presets=${*:-q4_0 q4_1 q5_0 q5_1 q8_0 q2_k q3_k_s q3_k_m q3_k_l q4_k_s q4_k_m q5_k_s q5_k_m q6_k iq4_nl iq4_xs bf16 f16}
models=${VKRT_MODELS_DIR:-../shared/models}
src=$models/arch/padded256-f32.gguf
text=$models/tinystories_valid_head.txt
out=${OUT_DIR:-$(mktemp -d)}
calib=$out/calib.txt
python3 - "$text" "$calib" <<'PY'
import sys
b = open(sys.argv[1], "rb").read()
i = b.index(b"\n", 400000) + 1
open(sys.argv[2], "wb").write(b[i:])
PY
ppl() {
  "$build/bin/vkrt-bench" --perplexity "$text" -m "$1" -c 512 --chunks 20 -ctk f32 -ctv f32 2>/dev/null |
    sed -n 's/^perplexity: \([0-9.]*\).*/\1/p'
}
im=$out/vkrt.imatrix.gguf
[ -s "$im" ] || "$build/bin/vkrt-quantize" -m "$src" -o "$out/f16.gguf" --type f16 --scales imatrix --calib-text "$calib" \
  --calib-skip-tokens 0 --calib-tokens "${CALIB_TOKENS:-16384}" --imatrix-out "$im" >/dev/null 2>&1
if [ -n "${LLAMA_CPP_BUILD:-}" ] && [ ! -s "$out/llama.imatrix.gguf" ]; then
  "$LLAMA_CPP_BUILD/bin/llama-imatrix" -m "$src" -f "$calib" -c 512 --chunks $(( ${CALIB_TOKENS:-16384} / 512 )) \
    -ngl 0 -t 2 -nr -o "$out/llama.imatrix.gguf" >"$out/imatrix.log" 2>&1
fi
echo "vkrt-quantize: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- runtime samples || echo ' (modified)'), $(date -u '+%Y-%m-%d %H:%M UTC'), files in $out"
echo "| preset | bytes | bits/weight | vkrt ppl (--imatrix${AWQ:+ --awq}${GPTQ:+ --gptq}) | llama-quantize --imatrix ppl (vkrt-bench) |"
echo "| --- | ---: | ---: | ---: | ---: |"
for p in $presets; do
  f=$out/$p.gguf
  "$build/bin/vkrt-quantize" -m "$src" -o "$f" --type "$p" --imatrix "$im" ${AWQ:+--awq} ${GPTQ:+--gptq} >/dev/null 2>&1
  size=$(stat -c %s "$f")
  bpw=$(python3 scripts/gguf_tensor_digests.py "$f" --bpw)  # tensor data bits / elements
  lc="-"
  if [ -n "${LLAMA_CPP_BUILD:-}" ]; then
    "$LLAMA_CPP_BUILD/bin/llama-quantize" --imatrix "$out/llama.imatrix.gguf" "$src" "$out/$p.llama.gguf" \
      "$(echo "$p" | tr a-z A-Z)" 2 >/dev/null 2>&1 && lc=$(ppl "$out/$p.llama.gguf")
  fi
  echo "| $p | $size | $bpw | $(ppl "$f") | $lc |"
done
