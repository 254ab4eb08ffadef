#!/bin/sh
# Regenerates tests/data/llama_cpp_greedy.txt: llama.cpp's tokenization of a few prompts
# and its greedy (temperature 0) continuation of each, N token ids, on stories260K.gguf and
# every ../shared/models/arch/*-f32.gguf, with an F32 KV cache without flash attention
# (`-ctk f32 -ctv f32 -fa off`) and with llama.cpp's defaults (F16 KV cache, flash attention
# auto = on for the CPU backend). tests/test_llama_cpp_greedy.cpp generates the same in vkrt
# and compares.
#
# usage: scripts/llama_cpp_greedy.sh LLAMA_CPP_SRC LLAMA_CPP_BUILD [MODELS_DIR]
#   LLAMA_CPP_SRC:   a llama.cpp source tree (include/llama.h, ggml/include)
#   LLAMA_CPP_BUILD: its CMake build, CPU backend, with bin/libllama.so, bin/llama-tokenize and
#                    bin/llama-completion (e.g. cmake -DGGML_VULKAN=OFF -DLLAMA_OPENSSL=OFF ...;
#                    ninja llama-completion llama-tokenize)
#   MODELS_DIR:      default ../shared/models (relative to the repository root)
#   LLAMA_CPP_VERSION: names the llama.cpp commit in the header when LLAMA_CPP_SRC is no git checkout
#   PROMPTS:         a file of prompts, one per line (see below), instead of the built-in six
#   OUT:             the output file instead of tests/data/llama_cpp_greedy.txt
#   COMPLETION_CHECK: 0 skips the llama-completion check below (the header says so)
#   N_PREDICT:       generated tokens per case (default 64: Gemma 3's window is 16, so
#                    sliding-window attention matters for most of the text)
# The tests' data was made with llama.cpp at commit d32676d77 (the commit that made
# ../shared/models/arch, arch/README.md "llama.cpp version"), CPU backend, Release, gcc 12.
#
# For each file and prompt:
#  * llama-tokenize --ids gives the prompt's ids (BOS added, special tokens parsed);
#  * scripts/llama_cpp_greedy.cpp (built here against libllama) generates N_PREDICT ids with
#    llama-completion's context parameters and `-ngl 0 -t 2 -nr` (arch/README.md: the CPU
#    backend's AMX / repacked path crashes on this machine), and the gap between the two top
#    logits at each step;
#  * its prompt ids must equal llama-tokenize's, and its text up to the first end-of-generation
#    token must equal what `llama-completion -no-cnv --temp 0` prints with the same flags.
#    llama-completion sometimes exits (rc 0) with a truncated output on a loaded machine
#    (arch/README.md): a run without its closing "\n\n" on stdout and "graphs reused" on
#    stderr is retried, up to 20 times (on a loaded 2-core machine about every other run was
#    cut short, with rc 0; the cause was not investigated: llama-completion prints the text
#    through common/log's worker thread).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
src=${1:?usage: $0 LLAMA_CPP_SRC LLAMA_CPP_BUILD [MODELS_DIR]}
build=${2:?usage: $0 LLAMA_CPP_SRC LLAMA_CPP_BUILD [MODELS_DIR]}
models=${3:-$root/../shared/models}
n_predict=${N_PREDICT:-64}
bin=$build/bin
for f in "$src/include/llama.h" "$bin/libllama.so" "$bin/llama-tokenize" "$bin/llama-completion"; do
    [ -e "$f" ] || { echo "$f not found" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
${CXX:-c++} -O2 -std=c++17 -I"$src/include" -I"$src/ggml/include" "$root/scripts/llama_cpp_greedy.cpp" \
    -L"$bin" -lllama -lggml -lggml-base -Wl,-rpath,"$bin" -o "$tmp/greedy"
version=${LLAMA_CPP_VERSION:-$(git -C "$src" rev-parse --short=9 HEAD 2>/dev/null || echo "unknown")}

# The prompts: one per line of the file $PROMPTS, escaped as printf %b reads them (\n, \t, \\),
# none ending with a newline (llama-completion's -f drops one); by default the six below. The
# first is empty: the model starts from BOS alone.
if [ -n "${PROMPTS:-}" ]; then
    cp "$PROMPTS" "$tmp/prompts"
else
    cat > "$tmp/prompts" <<'END'

Once upon a time
Lily and Tom went to the park. They saw a big dog
The little cat was sad because
  Two spaces, digits 1234 and CAPS: WHY?!
Mom said "no"\nThen Ben cried. caf\0303\0251 \0342\0202\0254 \0360\0237\0230\0200 <s>
END
fi
n_prompts=$(wc -l < "$tmp/prompts")
prompt() { printf '%b' "$(sed -n "$(($1 + 1))p" "$tmp/prompts")"; }
files="stories260K.gguf $(cd "$models" && ls arch/*-f32.gguf | LC_ALL=C sort)"

# escape: \n, \t and \ as in llama_cpp_greedy.cpp's text line
esc() { sed -e 's/\\/\\\\/g' -e 's/\t/\\t/g' | awk 'NR > 1 { printf "%s", "\\n" } { printf "%s", $0 }'; }

completion_text() {  # FILE PROMPT_FILE CACHE_FLAGS... -> $tmp/completion.out (stdout)
    model=$1
    pfile=$2
    shift 2
    tries=0
    while :; do
        tries=$((tries + 1))
        "$bin/llama-completion" -m "$model" -f "$pfile" --no-escape -n "$n_predict" --temp 0 -no-cnv \
            --no-display-prompt -ngl 0 -t 2 -nr "$@" > "$tmp/completion.out" 2> "$tmp/completion.err" </dev/null || true
        if [ "$(tail -c 2 "$tmp/completion.out" | od -An -c | tr -d ' ')" = '\n\n' ] &&
            grep -q "graphs reused" "$tmp/completion.err"; then
            return 0
        fi
        [ $tries -lt 20 ] || { echo "llama-completion failed 20 times on $model" >&2; exit 1; }
        echo "llama-completion: truncated output on $model, retrying" >&2
    done
}

out=${OUT:-$root/tests/data/llama_cpp_greedy.txt}
{
    echo "# llama.cpp's prompt ids and greedy (temperature 0) continuations, made by scripts/llama_cpp_greedy.sh"
    echo "# with llama.cpp $version (CPU backend, -ngl 0 -t 2 -nr), $n_predict generated tokens per case."
    printf '%s\n' '# prompt INDEX TEXT             the prompt (\n, \t, \\ escaped; INDEX 0 is empty: BOS only)'
    echo "# tokens FILE INDEX ID...       llama-tokenize --ids (BOS added, special tokens parsed)"
    echo "# greedy FILE CACHE INDEX ID... generated ids, CACHE f32 = -ctk f32 -ctv f32 -fa off,"
    echo "#                               default = llama.cpp's defaults (F16 K and V, flash attention auto: on)"
    echo "# gap FILE CACHE INDEX G...     llama.cpp's top logit minus the runner-up's at each generated token"
    if [ "${COMPLETION_CHECK:-1}" != 0 ]; then
        echo "# Every text up to the first end-of-generation token is what llama-completion printed."
    else
        echo "# (made with COMPLETION_CHECK=0: the texts were not compared with llama-completion's here)"
    fi
    i=0
    while [ $i -lt $n_prompts ]; do
        prompt $i > "$tmp/p$i.txt"
        printf 'prompt %s %s\n' $i "$(esc < "$tmp/p$i.txt")"  # (dash's echo would undo the escapes)
        i=$((i + 1))
    done
    for f in $files; do
        i=0
        while [ $i -lt $n_prompts ]; do
            ids=$("$bin/llama-tokenize" -m "$models/$f" -f "$tmp/p$i.txt" --no-escape --ids --log-disable 2>/dev/null |
                tr -d '[],')
            [ -n "$ids" ] || ids=1  # an empty prompt gives [] here; llama-completion adds BOS ("considered empty")
            echo "tokens $f $i $ids"
            for cache in f32 default; do
                if [ $cache = f32 ]; then flags="-ctk f32 -ctv f32 -fa off"; else flags=""; fi
                "$tmp/greedy" "$models/$f" "$n_predict" $cache "$(cat "$tmp/p$i.txt")" "$tmp/want.raw" > "$tmp/g.txt"
                got_prompt=$(sed -n 's/^prompt //p' "$tmp/g.txt")
                [ "$got_prompt" = "$ids" ] || {
                    echo "$f prompt $i: llama_cpp_greedy tokenized '$got_prompt', llama-tokenize '$ids'" >&2
                    exit 1
                }
                echo "greedy $f $cache $i $(sed -n 's/^greedy //p' "$tmp/g.txt")"
                echo "gap $f $cache $i $(sed -n 's/^gap //p' "$tmp/g.txt")"
                [ "${COMPLETION_CHECK:-1}" != 0 ] || continue
                # shellcheck disable=SC2086
                completion_text "$models/$f" "$tmp/p$i.txt" $flags
                # stdout: the text, " [end of text]\n" after an end-of-generation token, then "\n\n"
                head -c -2 "$tmp/completion.out" > "$tmp/got.raw"
                if [ "$(tail -c 15 "$tmp/got.raw")" = " [end of text]" ]; then  # ($(...) drops the \n)
                    head -c -17 "$tmp/completion.out" > "$tmp/got.raw"
                fi
                cmp -s "$tmp/got.raw" "$tmp/want.raw" || {
                    echo "$f $cache prompt $i: llama-completion printed '$(cat "$tmp/got.raw")'," \
                         "llama_cpp_greedy '$(cat "$tmp/want.raw")'" >&2
                    exit 1
                }
            done
            i=$((i + 1))
        done
    done
} > "$out.part"
mv "$out.part" "$out"
echo "wrote $(grep -c '^greedy' "$out") greedy cases to $out"
