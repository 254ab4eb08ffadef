#!/usr/bin/env bash
# Builds docs/QUANTIZATION.md's quality table: quantizes stories260K every way
# vkrt-quantize can and measures each file's perplexity with vkrt-bench on the
# evaluation part of the TinyStories text (the first 100 chunks of 512 tokens;
# calibration uses the text after them).
#   scripts/quality_table.sh [BUILD_DIR] [CHUNKS]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
chunks=${2:-100}
models=${VKRT_MODELS_DIR:-../shared/models}
text=$models/tinystories_valid_head.txt
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

ppl() {  # file -> perplexity
  "$build/bin/vkrt-bench" --perplexity "$text" -m "$1" --chunks "$chunks" 2>/dev/null |
    sed -n 's/^perplexity: \([0-9.]*\).*/\1/p'
}
quant() {  # name, then vkrt-quantize flags
  local name=$1; shift
  "$build/bin/vkrt-quantize" -m "$models/stories260K.gguf" -o "$out/$name.gguf" "$@" >/dev/null 2>&1
  echo "$out/$name.gguf"
}
base=$(ppl "$models/stories260K.gguf")
row() {  # label, file, how
  local p; p=$(ppl "$2")
  awk -v l="$1" -v p="$p" -v b="$base" -v h="$3" 'BEGIN { printf "| %s | %.4f | %+.2f%% | %s |\n", l, p, (p / b - 1) * 100, h }'
}
echo "| model | perplexity | vs F32 | how |"
echo "| --- | --- | --- | --- |"
echo "| F32 | $base | | stories260K.gguf |"
row "Q8_0 (llama.cpp's file)" "$models/llama.cpp/stories260K-q8_0.gguf" "llama-quantize"
row "Q4_0 (llama.cpp's file)" "$models/llama.cpp/stories260K-q4_0.gguf" "llama-quantize"
row "Q8_0" "$(quant q8_0 --type q8_0)" "--type q8_0"
row "Q4_0 min-max" "$(quant q4_0 --type q4_0)" "--type q4_0"
row "Q4_0 MSE" "$(quant q4_0_mse --type q4_0 --scales mse)" "--type q4_0 --scales mse"
row "W8A8 dynamic, no smoothing" "$(quant w8a8_ns --type w8a8 --no-smooth)" "--type w8a8 --no-smooth"
for a in 0.25 0.5 0.75 0.85; do
  row "W8A8 dynamic, SmoothQuant alpha $a" "$(quant w8a8_$a --type w8a8 --alpha $a)" "--type w8a8 --alpha $a"
done
row "W8A8 dynamic asymmetric, alpha 0.5" "$(quant w8a8_asym --type w8a8 --asym)" "--type w8a8 --asym"
for c in max percentile mse entropy; do
  row "W8A8 static ($c), alpha 0.5" "$(quant w8a8s_$c --type w8a8_static --calibrator $c)" \
    "--type w8a8_static --calibrator $c"
done
