// llama.cpp's greedy (temperature 0) continuation of a prompt, as token ids, for
// scripts/llama_cpp_greedy.sh. Built against a llama.cpp build's libllama (llama.h API
// only); it sets the context parameters that llama-completion uses with
// `-ngl 0 -t 2 -nr [-ctk f32 -ctv f32 -fa off]` (common_context_params_to_llama):
// n_ctx = the model's training context, n_batch 2048, n_ubatch 512, swa_full off, no
// extra buffer types (-nr), the whole prompt in one batch, then one token per decode.
// Unlike llama-completion it does not stop at an end-of-generation token (as with
// --ignore-eos): the ids are compared position by position. The script checks that
// llama-completion prints the same text.
//
// usage: llama_cpp_greedy MODEL N_PREDICT f32|default PROMPT TEXT_FILE
// prints (stdout):
//   prompt ID...        the prompt's ids (BOS added and special tokens parsed, as llama-completion)
//   greedy ID...        N_PREDICT generated ids
//   gap G...            per generated token: its logit minus the runner-up's (4 decimals)
// and writes to TEXT_FILE the generated text up to the first end-of-generation token, piece by
// piece as llama-completion prints it (common_token_to_piece without special tokens).
#include "llama.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

void quiet_log(ggml_log_level level, const char* text, void*) {
    if (level == GGML_LOG_LEVEL_ERROR) std::fputs(text, stderr);
}

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "llama_cpp_greedy: %s\n", what);
    std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 6) die("usage: llama_cpp_greedy MODEL N_PREDICT f32|default PROMPT TEXT_FILE");
    const char* model_path = argv[1];
    const int n_predict = std::atoi(argv[2]);
    const std::string cache = argv[3];
    const std::string prompt = argv[4];
    if (n_predict <= 0) die("N_PREDICT must be > 0");
    if (cache != "f32" && cache != "default") die("the cache is f32 or default");

    llama_log_set(quiet_log, nullptr);
    ggml_backend_load_all();
    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;         // -ngl 0
    mp.use_extra_bufts = false;  // -nr: no repacking / AMX buffers (arch/README.md)
    llama_model* model = llama_model_load_from_file(model_path, mp);
    if (!model) die("cannot load the model");
    const llama_vocab* vocab = llama_model_get_vocab(model);

    // Tokenize as llama-completion does (common_tokenize(ctx, prompt, add_special=true, parse_special=true)).
    std::vector<llama_token> ids(prompt.size() + 8);
    int n = llama_tokenize(vocab, prompt.data(), int32_t(prompt.size()), ids.data(), int32_t(ids.size()), true, true);
    if (n < 0) die("tokenize failed");
    ids.resize(size_t(n));
    // llama-completion: "embd_inp was considered empty and bos was added".
    if (ids.empty()) ids.push_back(llama_vocab_bos(vocab));

    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 0;  // the model's training context, as llama-completion without -c
    cp.n_batch = 2048;
    cp.n_ubatch = 512;
    cp.n_threads = 2;
    cp.n_threads_batch = 2;
    cp.swa_full = false;  // common_params default
    if (cache == "f32") {
        cp.type_k = GGML_TYPE_F32;
        cp.type_v = GGML_TYPE_F32;
        cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    } else {
        cp.type_k = GGML_TYPE_F16;
        cp.type_v = GGML_TYPE_F16;
        cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_AUTO;
    }
    llama_context* ctx = llama_init_from_model(model, cp);
    if (!ctx) die("cannot create the context");
    if (int(ids.size()) + n_predict > int(llama_n_ctx(ctx))) die("prompt + N_PREDICT exceed the context");

    const int n_vocab = llama_vocab_n_tokens(vocab);
    std::vector<llama_token> out;
    std::vector<float> gaps;
    std::string text;
    bool eog = false;  // the text stops at the first end-of-generation token, as llama-completion does
    llama_batch batch = llama_batch_get_one(ids.data(), int32_t(ids.size()));
    llama_token t = 0;
    for (int i = 0; i < n_predict; ++i) {
        if (llama_decode(ctx, batch) != 0) die("llama_decode failed");
        const float* logits = llama_get_logits_ith(ctx, -1);
        // Greedy: the first maximum (llama_sampler_init_greedy keeps the lowest id on ties).
        int best = 0;
        for (int v = 1; v < n_vocab; ++v) {
            if (logits[v] > logits[best]) best = v;
        }
        float second = -INFINITY;
        for (int v = 0; v < n_vocab; ++v) {
            if (v != best) second = std::max(second, logits[v]);
        }
        t = best;
        out.push_back(t);
        gaps.push_back(logits[best] - second);
        eog = eog || llama_vocab_is_eog(vocab, t);
        if (!eog) {
            char buf[256];
            const int np = llama_token_to_piece(vocab, t, buf, sizeof(buf), 0, false);  // common_token_to_piece(special=false)
            if (np < 0) die("token_to_piece failed");
            text.append(buf, size_t(np));
        }
        batch = llama_batch_get_one(&t, 1);
    }

    std::printf("prompt");
    for (llama_token id : ids) std::printf(" %d", id);
    std::printf("\ngreedy");
    for (llama_token id : out) std::printf(" %d", id);
    std::printf("\ngap");
    for (float g : gaps) std::printf(" %.4f", g);
    std::printf("\n");
    FILE* f = std::fopen(argv[5], "wb");
    if (!f || std::fwrite(text.data(), 1, text.size(), f) != text.size() || std::fclose(f) != 0) die("cannot write TEXT_FILE");

    llama_free(ctx);
    llama_model_free(model);
    return 0;
}
