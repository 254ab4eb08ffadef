/* Installed-package consumer (C): load a model, generate a few tokens greedily. */
#include <stdio.h>
#include <vkrt/vkrt.h>

static int on_token(int32_t token, const char* piece, void* user) {
    (void)token;
    fputs(piece, stdout);
    ++*(int*)user;
    return 0;
}

int main(int argc, char** argv) {
    if (argc < 2) { fprintf(stderr, "usage: consumer_c MODEL.gguf\n"); return 2; }
    vkrt_context* ctx = NULL;
    vkrt_model* model = NULL;
    vkrt_session* s = NULL;
    if (vkrt_context_create(NULL, &ctx) != VKRT_OK ||
        vkrt_model_load(ctx, argv[1], NULL, &model) != VKRT_OK ||
        vkrt_session_create(model, NULL, &s) != VKRT_OK) {
        fprintf(stderr, "consumer_c: %s\n", vkrt_last_error());
        return 1;
    }
    vkrt_sampler_params sp = vkrt_sampler_default_params();
    sp.temperature = 0.0f;
    int n = 0;
    vkrt_status st = vkrt_generate(s, "Once upon a time", &sp, 16, on_token, &n);
    printf("\nconsumer_c: status %s, %d tokens\n", vkrt_status_string(st), n);
    vkrt_session_free(s);
    vkrt_model_free(model);
    vkrt_context_free(ctx);
    return st == VKRT_OK && n > 0 ? 0 : 1;
}
