/* Writes the seed corpus of fuzz_session_state (tests/fuzz/corpus/session_state): real
 * saved sessions of the test models through the public C API, each small (a few tokens,
 * a short context). Needs a Vulkan device; built with -DVKRT_BUILD_FUZZERS=ON; run:
 *   vkrt_fuzz_make_state_corpus tests/fuzz/corpus/session_state MODELS_DIR */
#include <stdio.h>
#include <string.h>

#include "vkrt/vkrt.h"

static int save(vkrt_context* ctx, const char* models, const char* model_file, int type_k, int type_v, int n_tokens,
                int with_sampler, const char* out) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", models, model_file);
    vkrt_model* m = NULL;
    vkrt_session* s = NULL;
    vkrt_session_params p = vkrt_session_default_params();
    p.n_ctx = 48;
    p.n_batch = 4;
    p.type_k = type_k;
    p.type_v = type_v;
    int ok = vkrt_model_load(ctx, path, NULL, &m) == VKRT_OK && vkrt_session_create(m, &p, &s) == VKRT_OK;
    int32_t ids[64];
    for (int i = 0; i < n_tokens; ++i) ids[i] = 1 + (i * 37) % 199;
    ok = ok && vkrt_eval(s, ids, n_tokens) == VKRT_OK;
    if (ok && with_sampler) {
        vkrt_sampler_params sp = vkrt_sampler_default_params();
        sp.seed = 3;
        int32_t t;
        ok = vkrt_sample(s, &sp, &t) == VKRT_OK;
    }
    ok = ok && vkrt_session_save(s, out) == VKRT_OK;
    if (!ok) fprintf(stderr, "%s: %s\n", out, vkrt_last_error());
    vkrt_session_free(s);
    vkrt_model_free(m);
    return ok;
}

int main(int argc, char** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s OUT_DIR MODELS_DIR\n", argv[0]);
        return 2;
    }
    vkrt_context* ctx = NULL;
    if (vkrt_context_create(NULL, &ctx) != VKRT_OK) return 1;
    char out[2048];
    int ok = 1;
#define SAVE(name, file, k, v, n, smp) \
    snprintf(out, sizeof out, "%s/%s", argv[1], name), ok &= save(ctx, argv[2], file, k, v, n, smp, out)
    SAVE("stories260K_f16_sampler", "stories260K.gguf", VKRT_CACHE_F16, VKRT_CACHE_F16, 6, 1);
    SAVE("stories260K_q8_0_f32", "stories260K.gguf", VKRT_CACHE_Q8_0, VKRT_CACHE_F32, 3, 0);
    SAVE("gemma3_ring", "arch/gemma3-f32.gguf", VKRT_CACHE_F16, VKRT_CACHE_F16, 24, 0);
    vkrt_context_free(ctx);
    return ok ? 0 : 1;
}
