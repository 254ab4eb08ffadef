#!/bin/sh
# Regenerates tests/data/llama_cpp_perplexity.txt: llama.cpp's own perplexity of every file the
# perplexity tests check (tests/formats_perplexity.cpp, tests/arch_perplexity.cpp,
# tests/test_model.cpp, tests/test_model_kv_cache.cpp) over the first CHUNKS chunks of 512
# tokens of tinystories_valid_head.txt, the oracle those tests compare vkrt with.
#
# usage: scripts/llama_cpp_perplexity.sh LLAMA_CPP_BUILD [MODELS_DIR]
#   LLAMA_CPP_BUILD: a CMake build of llama.cpp (CPU backend) with bin/llama-perplexity
#   MODELS_DIR:      default ../shared/models (relative to the repository root)
#   CHUNKS:          default 4 (one llama-perplexity batch: -b 2048 / -c 512 = 4 sequences, so
#                    the figure is also the running estimate [4] of arch/README.md's 20-chunk run)
#   OUT:             the output file instead of tests/data/llama_cpp_perplexity.txt
#   LLAMA_CPP_VERSION: names the llama.cpp commit in the header (llama-perplexity --version
#                    says "0 (unknown)" when its source was no git checkout)
# Each figure is llama-perplexity's "Final estimate: PPL = ..." of
#   llama-perplexity -m FILE -f MODELS_DIR/tinystories_valid_head.txt -c 512 --chunks CHUNKS -ngl 0 -t 1 -nr [KV flags]
# with KV f32 = `-ctk f32 -ctv f32 -fa off`, default = no flags (F16 K and V, flash attention
# auto: on). -t 1 instead of arch/README.md's -t 2: the same figures (each dot product is one
# thread's), and on a loaded 2-core machine two spinning threads took 8x the wall time.
# A run without "Final estimate" (llama.cpp tools sometimes exit rc 0 with a truncated log on
# a loaded machine, arch/README.md) is retried.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: $0 LLAMA_CPP_BUILD [MODELS_DIR]}
models=${2:-$root/../shared/models}
chunks=${CHUNKS:-4}
out=${OUT:-$root/tests/data/llama_cpp_perplexity.txt}
text=$models/tinystories_valid_head.txt

# FILE (relative to MODELS_DIR) and KV cache of every figure a test reads.
cases="
arch/padded256-f32.gguf f32
arch/padded256-f16.gguf f32
arch/padded256-bf16.gguf f32
arch/padded256-q8_0.gguf f32
arch/padded256-q6_k.gguf f32
arch/padded256-q5_k_m.gguf f32
arch/padded256-q5_1.gguf f32
arch/padded256-q5_0.gguf f32
arch/padded256-q4_k_m.gguf f32
arch/padded256-q4_1.gguf f32
arch/padded256-q4_0.gguf f32
arch/padded256-iq4_nl.gguf f32
arch/padded256-iq4_xs.gguf f32
arch/padded256-q3_k_m.gguf f32
arch/padded256-q2_k.gguf f32
arch/stories260K-q4_k_m.gguf f32
arch/llama_ropefreqs-f32.gguf f32
arch/llama_ropefreqs-f32.gguf default
arch/qwen2-f32.gguf f32
arch/qwen2-f32.gguf default
arch/qwen3-f32.gguf f32
arch/qwen3-f32.gguf default
arch/gemma3-f32.gguf f32
arch/gemma3-f32.gguf default
arch/phi3-f32.gguf f32
arch/phi3-f32.gguf default
stories260K.gguf f32
stories260K.gguf default
llama.cpp/stories260K-q8_0.gguf default
llama.cpp/stories260K-q4_0.gguf default
"

tmp=$(mktemp)
trap 'rm -f "$tmp" "$tmp.log"' EXIT
{
  echo "# llama.cpp's perplexity (llama-perplexity's \"Final estimate\"), made by scripts/llama_cpp_perplexity.sh:"
  echo "#   llama-perplexity -m FILE -f tinystories_valid_head.txt -c 512 --chunks $chunks -ngl 0 -t 1 -nr [KV flags]"
  echo "# KV f32 = -ctk f32 -ctv f32 -fa off; default = llama.cpp's defaults (F16 K and V, flash attention auto: on)."
  echo "# llama.cpp: ${LLAMA_CPP_VERSION:-$("$build/bin/llama-perplexity" --version 2>&1 | grep -i '^version' || echo unknown)}, CPU backend."
  echo "# FILE (relative to ../shared/models) KV CHUNKS PPL"
} > "$tmp"
echo "$cases" | while read -r file kv; do
  [ -n "$file" ] || continue
  flags=""
  [ "$kv" = f32 ] && flags="-ctk f32 -ctv f32 -fa off"
  ppl=""
  for try in 1 2 3 4 5; do
    # shellcheck disable=SC2086  # flags is a word list
    "$build/bin/llama-perplexity" -m "$models/$file" -f "$text" -c 512 --chunks "$chunks" -ngl 0 -t 1 -nr \
      $flags > "$tmp.log" 2>&1 || true
    ppl=$(sed -n 's/.*Final estimate: PPL = \([0-9.]*\).*/\1/p' "$tmp.log")
    [ -n "$ppl" ] && break
  done
  [ -n "$ppl" ] || { echo "$file $kv: no Final estimate after 5 tries" >&2; exit 1; }
  echo "$file $kv $chunks $ppl" | tee -a "$tmp"
done
mv "$tmp" "$out"
