/* Handle lifetimes in the C API, as a garbage collector would free them: a
 * session outlives its model and context, a model outlives its context, and
 * freed, foreign and doubly freed handles are refused, not dereferenced (the
 * sanitizer build runs this under ASan). Every run must produce the tokens of
 * the plain create-use-free order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vkrt/vkrt.h"

#include "support/capi_expect.h"

#define N_GEN 12
typedef struct {
    int32_t ids[N_GEN];
    int n;
} Tokens;

static int collect(int32_t token, const char* piece, void* user) {
    Tokens* t = (Tokens*)user;
    (void)piece;
    if (t->n < N_GEN) t->ids[t->n++] = token;
    return 0;
}

/* Greedy continuation of a fixed prompt in a fresh session state. */
static int generate(vkrt_session* s, Tokens* out) {
    vkrt_sampler_params greedy = vkrt_sampler_default_params();
    greedy.temperature = 0.0f;
    memset(out, 0, sizeof *out);
    if (vkrt_session_reset(s) != VKRT_OK) return 0;
    return vkrt_generate(s, "Once upon a time", &greedy, N_GEN, collect, out) == VKRT_OK && out->n > 0;
}

static int same_tokens(const Tokens* a, const Tokens* b) {
    return a->n == b->n && memcmp(a->ids, b->ids, sizeof(int32_t) * (size_t)a->n) == 0;
}

int main(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/stories260K.gguf", VKRT_MODELS_DIR);
    vkrt_session_params sp = vkrt_session_default_params();
    sp.n_ctx = 64;

    /* Reference: create, use, free in the textbook order. */
    Tokens ref;
    {
        vkrt_context* ctx = NULL;
        vkrt_model* model = NULL;
        vkrt_session* s = NULL;
        EXPECT(vkrt_context_create(NULL, &ctx) == VKRT_OK);
        EXPECT(vkrt_model_load(ctx, path, NULL, &model) == VKRT_OK);
        EXPECT(vkrt_session_create(model, &sp, &s) == VKRT_OK);
        EXPECT(generate(s, &ref));
        EXPECT(vkrt_context_validation_messages(ctx) == 0);
        vkrt_session_free(s);
        vkrt_model_free(model);
        vkrt_context_free(ctx);
    }

    /* A session outlives its model and context: free them first, then use the session. */
    {
        vkrt_context* ctx = NULL;
        vkrt_model* model = NULL;
        vkrt_session* s = NULL;
        EXPECT(vkrt_context_create(NULL, &ctx) == VKRT_OK);
        EXPECT(vkrt_model_load(ctx, path, NULL, &model) == VKRT_OK);
        EXPECT(vkrt_session_create(model, &sp, &s) == VKRT_OK);
        vkrt_model_free(model);
        vkrt_context_free(ctx);
        Tokens t;
        EXPECT(generate(s, &t));
        EXPECT(same_tokens(&t, &ref));
        EXPECT(vkrt_session_n_ctx(s) == 64);
        /* the freed handles are refused, not dereferenced */
        EXPECT(vkrt_model_n_vocab(model) == 0);
        EXPECT(strstr(vkrt_last_error(), "not a live handle") != NULL);
        vkrt_session* s2 = NULL;
        EXPECT(vkrt_session_create(model, &sp, &s2) == VKRT_ERROR_INVALID_ARGUMENT && s2 == NULL);
        EXPECT(vkrt_context_validation_messages(ctx) == 0 && strstr(vkrt_last_error(), "vkrt_context") != NULL);
        vkrt_model* m2 = NULL;
        EXPECT(vkrt_model_load(ctx, path, NULL, &m2) == VKRT_ERROR_INVALID_ARGUMENT && m2 == NULL);
        vkrt_session_free(s);
    }

    /* A model outlives its context: free the context, then tokenize, create sessions, run. */
    {
        vkrt_context* ctx = NULL;
        vkrt_model* model = NULL;
        vkrt_session* s = NULL;
        EXPECT(vkrt_context_create(NULL, &ctx) == VKRT_OK);
        EXPECT(vkrt_model_load(ctx, path, NULL, &model) == VKRT_OK);
        vkrt_context_free(ctx);
        int32_t ids[16];
        int32_t n = 0;
        EXPECT(vkrt_tokenize(model, "Once upon a time", 1, 0, ids, 16, &n) == VKRT_OK && n > 1);
        EXPECT(vkrt_session_create(model, &sp, &s) == VKRT_OK);
        vkrt_model_free(model);  /* the session still holds it */
        Tokens t;
        EXPECT(generate(s, &t));
        EXPECT(same_tokens(&t, &ref));

        /* wrong-kind and foreign pointers are refused */
        EXPECT(vkrt_model_n_vocab((const vkrt_model*)s) == 0);
        EXPECT(strstr(vkrt_last_error(), "is a vkrt_session, not a vkrt_model") != NULL);
        int on_stack = 0;
        EXPECT(vkrt_session_pos((const vkrt_session*)&on_stack) == 0);
        EXPECT(strstr(vkrt_last_error(), "not a live handle") != NULL);
        EXPECT(vkrt_eval((vkrt_session*)&on_stack, ids, n) == VKRT_ERROR_INVALID_ARGUMENT);
        EXPECT(vkrt_eval(NULL, ids, n) == VKRT_ERROR_INVALID_ARGUMENT);
        EXPECT(strstr(vkrt_last_error(), "NULL") != NULL);

        /* free the session, then: use after free and double free are refused */
        vkrt_session_free(s);
        EXPECT(vkrt_eval(s, ids, n) == VKRT_ERROR_INVALID_ARGUMENT);
        EXPECT(strstr(vkrt_last_error(), "already freed") != NULL);
        vkrt_session_free(s);
        EXPECT(strstr(vkrt_last_error(), "ignored") != NULL);
        vkrt_model_free(model);
        vkrt_context_free(ctx);
        vkrt_session_free(NULL);
        vkrt_model_free(NULL);
        vkrt_context_free(NULL);
    }

    /* Freeing in every order of the three handles leaves nothing broken. */
    {
        static const int orders[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
        for (int o = 0; o < 6; ++o) {
            vkrt_context* ctx = NULL;
            vkrt_model* model = NULL;
            vkrt_session* s = NULL;
            EXPECT(vkrt_context_create(NULL, &ctx) == VKRT_OK);
            EXPECT(vkrt_model_load(ctx, path, NULL, &model) == VKRT_OK);
            EXPECT(vkrt_session_create(model, &sp, &s) == VKRT_OK);
            int32_t bos = vkrt_model_bos(model);
            for (int k = 0; k < 3; ++k) {
                switch (orders[o][k]) {
                    case 0: vkrt_context_free(ctx); break;
                    case 1: vkrt_model_free(model); break;
                    case 2: vkrt_session_free(s); s = NULL; break;
                }
                if (s) EXPECT(vkrt_eval(s, &bos, 1) == VKRT_OK);
            }
        }
    }

    printf("%d passed, %d failed\n", checks - failures, failures);
    return failures ? 1 : 0;
}
