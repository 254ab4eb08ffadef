/* The C API from C: context, model, tokenize/detokenize, eval, logits, sample,
 * generate with a callback, error codes and messages, free. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>

#include "vkrt/vkrt.h"

#include "support/capi_expect.h"

static int count_tokens(int32_t token, const char* piece, void* user) {
    (void)token;
    (void)piece;
    return ++*(int*)user >= 10; /* stop after 10 */
}

typedef struct {
    int32_t ids[64];
    int n;
} recorded;
static int record_tokens(int32_t token, const char* piece, void* user) {
    (void)piece;
    recorded* r = (recorded*)user;
    if (r->n < 64) r->ids[r->n++] = token;
    return 0;
}

int main(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/stories260K.gguf", VKRT_MODELS_DIR);

    vkrt_context* ctx = NULL;
    vkrt_context_params cp = vkrt_context_default_params();
    EXPECT(vkrt_context_create(&cp, &ctx) == VKRT_OK);
    EXPECT(ctx != NULL && strlen(vkrt_context_describe(ctx)) > 0);

    /* errors: a missing file names itself; NULL arguments are refused */
    vkrt_model* model = NULL;
    EXPECT(vkrt_model_load(ctx, "/nonexistent/model.gguf", NULL, &model) == VKRT_ERROR_IO);
    EXPECT(strstr(vkrt_last_error(), "/nonexistent/model.gguf") != NULL);
    EXPECT(model == NULL);
    EXPECT(vkrt_model_load(ctx, NULL, NULL, &model) == VKRT_ERROR_INVALID_ARGUMENT);

    EXPECT(vkrt_model_load(ctx, path, NULL, &model) == VKRT_OK);
    EXPECT(vkrt_model_n_vocab(model) == 512);

    int32_t ids[64];
    int32_t n = 0;
    EXPECT(vkrt_tokenize(model, "Once upon a time", 1, 0, ids, 64, &n) == VKRT_OK);
    EXPECT(n > 1 && ids[0] == vkrt_model_bos(model));
    int32_t small[2];
    int32_t need = 0;
    EXPECT(vkrt_tokenize(model, "Once upon a time", 1, 0, small, 2, &need) == VKRT_ERROR_LIMIT_EXCEEDED);
    EXPECT(need == n);
    char text[256];
    size_t len = 0;
    EXPECT(vkrt_detokenize(model, ids + 1, n - 1, text, sizeof text, &len) == VKRT_OK);
    EXPECT(strcmp(text, "Once upon a time") == 0 || strcmp(text, " Once upon a time") == 0);

    vkrt_session* s = NULL;
    vkrt_session_params sp = vkrt_session_default_params();
    sp.n_ctx = 128;
    EXPECT(vkrt_session_create(model, &sp, &s) == VKRT_OK);
    EXPECT(vkrt_session_n_ctx(s) == 128);
    const float* logits = NULL;
    int32_t nv = 0;
    EXPECT(vkrt_get_logits(s, &logits, &nv) == VKRT_ERROR_INVALID_ARGUMENT); /* nothing evaluated */
    EXPECT(vkrt_eval(s, ids, n) == VKRT_OK);
    EXPECT(vkrt_session_pos(s) == n);
    EXPECT(vkrt_get_logits(s, &logits, &nv) == VKRT_OK && nv == 512);
    int finite = 1, best = 0;
    for (int i = 0; i < nv; ++i) {
        if (!isfinite(logits[i])) finite = 0;
        if (logits[i] > logits[best]) best = i;
    }
    EXPECT(finite);
    vkrt_sampler_params greedy = vkrt_sampler_default_params();
    greedy.temperature = 0.0f;
    int32_t tok = -1;
    EXPECT(vkrt_sample(s, &greedy, &tok) == VKRT_OK);
    EXPECT(tok == best);
    int32_t bad = 100000;
    EXPECT(vkrt_eval(s, &bad, 1) == VKRT_ERROR_INVALID_ARGUMENT);

    int produced = 0;
    EXPECT(vkrt_session_reset(s) == VKRT_OK);
    EXPECT(vkrt_generate(s, "Once upon a time", &greedy, 50, count_tokens, &produced) == VKRT_OK);
    EXPECT(produced == 10);
    /* the token at which the callback stopped is evaluated: generating on continues after it,
     * exactly as one uninterrupted generation does */
    EXPECT(vkrt_session_pos(s) == n + 10);
    recorded more = {{0}, 0}, whole = {{0}, 0};
    EXPECT(vkrt_generate(s, "", &greedy, 5, record_tokens, &more) == VKRT_OK);
    EXPECT(more.n == 5 && vkrt_session_pos(s) == n + 15);
    EXPECT(vkrt_session_reset(s) == VKRT_OK);
    EXPECT(vkrt_generate(s, "Once upon a time", &greedy, 15, record_tokens, &whole) == VKRT_OK);
    EXPECT(whole.n == 15 && memcmp(whole.ids + 10, more.ids, 5 * sizeof(int32_t)) == 0);

    /* overflow of the context is an error, not a crash */
    int32_t many[200];
    for (int i = 0; i < 200; ++i) many[i] = 5;
    EXPECT(vkrt_session_reset(s) == VKRT_OK);
    EXPECT(vkrt_eval(s, many, 200) == VKRT_ERROR_LIMIT_EXCEEDED);
    EXPECT(strstr(vkrt_last_error(), "context") != NULL);

    /* KV cache types: F16 by default (5 layers x 128 positions x 32 x 2 bytes, K and V),
     * Q8_0 at 34 bytes per 32 values, F32 twice F16; an unknown type is refused. */
    EXPECT(vkrt_session_kv_bytes(s) == 5u * 128u * 32u * 2u * 2u);
    {
        vkrt_session* q8 = NULL;
        vkrt_session_params qp = vkrt_session_default_params();
        qp.n_ctx = 128;
        qp.type_k = VKRT_CACHE_Q8_0;
        qp.type_v = VKRT_CACHE_F32;
        EXPECT(vkrt_session_create(model, &qp, &q8) == VKRT_OK);
        EXPECT(vkrt_session_kv_bytes(q8) == 5u * 128u * (34u + 128u));
        int32_t first = -1;
        EXPECT(vkrt_eval(q8, ids, n) == VKRT_OK);
        EXPECT(vkrt_sample(q8, &greedy, &first) == VKRT_OK);
        EXPECT(first >= 0 && first < 512);
        vkrt_session_free(q8);
        qp.type_v = 7;
        q8 = NULL;
        EXPECT(vkrt_session_create(model, &qp, &q8) == VKRT_ERROR_INVALID_ARGUMENT);
        EXPECT(strstr(vkrt_last_error(), "type_v") != NULL);
        EXPECT(q8 == NULL);
    }

    EXPECT(vkrt_context_validation_messages(ctx) == 0);
    vkrt_session_free(s);
    vkrt_model_free(model);
    vkrt_context_free(ctx);

    /* the pipeline cache goes to the folder the app passes in (created if missing) */
    char dir[1024], file[1200];
    snprintf(dir, sizeof dir, "%s/capi-pipeline-cache/sub", VKRT_TEST_TMP_DIR);
    vkrt_context_params cp2 = vkrt_context_default_params();
    cp2.pipeline_cache_dir = dir;
    vkrt_context* ctx2 = NULL;
    EXPECT(vkrt_context_create(&cp2, &ctx2) == VKRT_OK);
    vkrt_model* m2 = NULL;
    EXPECT(vkrt_model_load(ctx2, path, NULL, &m2) == VKRT_OK); /* compiles the pipelines */
    vkrt_model_free(m2);
    vkrt_context_free(ctx2);
    int cache_files = 0;
    DIR* d = opendir(dir);
    EXPECT(d != NULL);
    if (d) {
        struct dirent* e;
        while ((e = readdir(d)) != NULL)
            if (strncmp(e->d_name, "pipelines-", 10) == 0 && strstr(e->d_name, ".bin")) {
                struct stat st;
                snprintf(file, sizeof file, "%s/%s", dir, e->d_name);
                EXPECT(stat(file, &st) == 0 && st.st_size > 0);
                remove(file);
                ++cache_files;
            }
        closedir(d);
    }
    EXPECT(cache_files == 1);
    printf("%d passed, %d failed\n", checks - failures, failures);
    return failures ? 1 : 0;
}
