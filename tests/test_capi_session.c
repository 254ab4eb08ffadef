/* The session-state calls of the C API on stories260K: truncate, prefix reuse, context
 * overflow (error and shift) with its events, cancellation from another thread (also racing
 * vkrt_session_free, which the sanitizer build runs under ASan), a model load stopped by
 * its progress callback, and saved states (memory; cut and corrupt blobs refused).
 *
 *   test_capi_session              everything in this process
 *   test_capi_session save FILE    a seeded sampled generation, saved mid-way to FILE; what
 *                                  follows goes to FILE.expect
 *   test_capi_session load FILE    a new process restores FILE, continues, and must match
 *                                  FILE.expect (tests/session.cmake runs the pair) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vkrt/vkrt.h"

#include "support/capi_expect.h"

#define MAX_IDS 1024
typedef struct {
    int32_t ids[MAX_IDS];
    int n;
    vkrt_session* session;
    int pos_seen; /* vkrt_session_pos from another thread while this generation runs */
} Collect;

static int collect(int32_t token, const char* piece, void* user) {
    Collect* c = (Collect*)user;
    (void)piece;
    if (c->n < MAX_IDS) c->ids[c->n] = token;
    __atomic_add_fetch(&c->n, 1, __ATOMIC_SEQ_CST);
    return 0;
}

static vkrt_context* ctx;
static vkrt_model* model;

static vkrt_session* new_session(int32_t n_ctx, int32_t overflow, int32_t n_keep) {
    vkrt_session_params p = vkrt_session_default_params();
    p.n_ctx = n_ctx;
    p.n_batch = 8;
    p.overflow = overflow;
    p.n_keep = n_keep;
    vkrt_session* s = NULL;
    EXPECT(vkrt_session_create(model, &p, &s) == VKRT_OK);
    return s;
}

static int32_t tokenize(const char* text, int32_t* ids, int32_t cap) {
    int32_t n = 0;
    EXPECT(vkrt_tokenize(model, text, 1, 1, ids, cap, &n) == VKRT_OK);
    return n;
}

/* A copy of the session's last logits (caller frees), NULL if it has none. */
static float* logits_copy(vkrt_session* s) {
    const float* l = NULL;
    int32_t n = 0;
    if (vkrt_get_logits(s, &l, &n) != VKRT_OK) return NULL;
    float* c = (float*)malloc(sizeof(float) * (size_t)n);
    memcpy(c, l, sizeof(float) * (size_t)n);
    return c;
}

static int same_logits(const float* a, const float* b) {
    return a && b && memcmp(a, b, sizeof(float) * (size_t)vkrt_model_n_vocab(model)) == 0;
}

static void test_truncate(void) {
    int32_t p[64], x[64];
    const int32_t np = tokenize("Once upon a time there was a girl named", p, 64);
    const int32_t nx = tokenize("Lily. She liked to play in the park", x, 64);
    vkrt_session* fresh = new_session(64, VKRT_OVERFLOW_ERROR, 0);
    EXPECT(vkrt_eval(fresh, p, np) == VKRT_OK);
    EXPECT(vkrt_eval(fresh, x + 1, 3) == VKRT_OK);
    float* want = logits_copy(fresh);

    vkrt_session* s = new_session(64, VKRT_OVERFLOW_ERROR, 0);
    EXPECT(vkrt_eval(s, p, np) == VKRT_OK);
    EXPECT(vkrt_eval(s, x, nx) == VKRT_OK);
    EXPECT(vkrt_session_truncate(s, np + nx + 1) == VKRT_ERROR_INVALID_ARGUMENT);
    EXPECT(strstr(vkrt_last_error(), "outside [0, pos = ") != NULL);
    EXPECT(vkrt_session_truncate(s, -1) == VKRT_ERROR_INVALID_ARGUMENT);
    EXPECT(vkrt_session_pos(s) == np + nx);
    EXPECT(vkrt_session_truncate(s, np) == VKRT_OK);
    EXPECT(vkrt_session_pos(s) == np);
    const float* none = NULL;
    EXPECT(vkrt_get_logits(s, &none, NULL) != VKRT_OK); /* not kept for the last kept token */
    int32_t got[64], n = 0;
    EXPECT(vkrt_session_tokens(s, got, 64, &n) == VKRT_OK && n == np && memcmp(got, p, sizeof(int32_t) * (size_t)np) == 0);
    EXPECT(vkrt_session_tokens(s, got, 2, &n) == VKRT_ERROR_LIMIT_EXCEEDED && n == np);
    EXPECT(vkrt_eval(s, x + 1, 3) == VKRT_OK);
    float* l = logits_copy(s);
    EXPECT(same_logits(l, want));
    free(l);

    /* Prefix reuse: the cached prompt + 3 tokens, asked again with 3 other tokens. */
    int32_t turn[128];
    memcpy(turn, p, sizeof(int32_t) * (size_t)np);
    memcpy(turn + np, x + 1, sizeof(int32_t) * 3);
    int32_t reused = -1;
    EXPECT(vkrt_session_truncate(s, 0) == VKRT_OK);
    EXPECT(vkrt_eval(s, p, np) == VKRT_OK);
    EXPECT(vkrt_eval(s, x + 4, 3) == VKRT_OK);
    EXPECT(vkrt_session_eval_prompt(s, turn, np + 3, &reused) == VKRT_OK);
    EXPECT(reused == np);
    l = logits_copy(s);
    EXPECT(same_logits(l, want));
    free(l);
    EXPECT(vkrt_session_eval_prompt(s, turn, 0, &reused) == VKRT_ERROR_INVALID_ARGUMENT);
    EXPECT(vkrt_session_eval_prompt(s, NULL, 3, &reused) == VKRT_ERROR_INVALID_ARGUMENT);
    free(want);
    vkrt_session_free(s);
    vkrt_session_free(fresh);
}

static void test_overflow(void) {
    vkrt_sampler_params greedy = vkrt_sampler_default_params();
    greedy.temperature = 0.0f;
    Collect* c = (Collect*)calloc(1, sizeof *c);
    vkrt_session* s = new_session(32, VKRT_OVERFLOW_ERROR, 0);
    EXPECT(vkrt_generate(s, "Once upon a time", &greedy, 100, collect, c) == VKRT_OK);
    EXPECT(vkrt_session_events(s) == VKRT_SESSION_EVENT_CONTEXT_FULL);
    EXPECT(vkrt_session_pos(s) == 32);
    vkrt_session_free(s);

    /* 3x n_ctx with a shift: the generation keeps going, the system prompt stays. */
    memset(c, 0, sizeof *c);
    s = new_session(32, VKRT_OVERFLOW_SHIFT, 4);
    EXPECT(vkrt_generate(s, "Once upon a time", &greedy, 96, collect, c) == VKRT_OK);
    EXPECT(vkrt_session_events(s) == VKRT_SESSION_EVENT_SHIFTED);
    EXPECT(vkrt_session_pos(s) <= 32);
    EXPECT(c->n == 96);
    int32_t head[64], got[64], n = 0;
    tokenize("Once upon a time", head, 64);
    EXPECT(vkrt_session_tokens(s, got, 64, &n) == VKRT_OK && memcmp(got, head, 4 * sizeof(int32_t)) == 0);
    vkrt_session_free(s);

    /* A prompt of P tokens after n_ctx - P + 1 cached ones overflows by one token: the shift
     * must make room for all P (it made room for one, and the prompt still did not fit:
     * vkrt-chat's next line after a long reply). */
    s = new_session(32, VKRT_OVERFLOW_SHIFT, 1);
    int32_t fill[32], prompt_ids[16];
    const int32_t n_prompt = tokenize(" Once upon a time", prompt_ids, 16) - 1; /* without BOS */
    EXPECT(n_prompt >= 2);
    for (int i = 0; i < 32; ++i) fill[i] = i == 0 ? vkrt_model_bos(model) : 100 + i;
    EXPECT(vkrt_eval(s, fill, 32 - n_prompt + 1) == VKRT_OK);
    vkrt_generate_params gp = vkrt_generate_default_params();
    gp.sampler = greedy;
    gp.max_tokens = 2;
    vkrt_generate_result gr;
    EXPECT(vkrt_generate_text(s, " Once upon a time", &gp, NULL, NULL, &gr) == VKRT_OK);
    EXPECT(vkrt_session_events(s) & VKRT_SESSION_EVENT_SHIFTED);
    EXPECT(gr.finish_reason == VKRT_FINISH_LENGTH && gr.n_generated == 2);
    EXPECT(vkrt_session_pos(s) <= 32);
    EXPECT(vkrt_eval(s, fill + 1, 20) == VKRT_ERROR_LIMIT_EXCEEDED || vkrt_session_pos(s) <= 32);
    vkrt_session_free(s);

    vkrt_session_params bad = vkrt_session_default_params();
    bad.overflow = 7;
    EXPECT(vkrt_session_create(model, &bad, &s) == VKRT_ERROR_INVALID_ARGUMENT);
    bad.overflow = VKRT_OVERFLOW_SHIFT;
    bad.n_keep = -1;
    EXPECT(vkrt_session_create(model, &bad, &s) == VKRT_ERROR_INVALID_ARGUMENT);
    free(c);
}

typedef struct {
    vkrt_session* s;
    Collect* c;
    vkrt_status status;
} GenArgs;

static void* run_generate(void* arg) {
    GenArgs* a = (GenArgs*)arg;
    vkrt_sampler_params greedy = vkrt_sampler_default_params();
    greedy.temperature = 0.0f;
    a->status = vkrt_generate(a->s, "Once upon a time", &greedy, 100000, collect, a->c);
    return NULL;
}

static void* cancel_until_freed(void* arg) {
    vkrt_session* s = (vkrt_session*)arg;
    while (vkrt_session_cancel(s) == VKRT_OK) {
    }
    return NULL;
}

static void test_cancel(void) {
    Collect* c = (Collect*)calloc(1, sizeof *c);
    GenArgs a = {new_session(256, VKRT_OVERFLOW_SHIFT, 1), c, VKRT_ERROR_INTERNAL};
    pthread_t t;
    pthread_create(&t, NULL, run_generate, &a);
    while (__atomic_load_n(&c->n, __ATOMIC_SEQ_CST) < 5) {
    }
    /* Read-only state and cancel from this thread while the generation runs. */
    EXPECT(vkrt_session_pos(a.s) > 0);
    EXPECT(vkrt_session_n_ctx(a.s) == 256);
    EXPECT(vkrt_session_cancel(a.s) == VKRT_OK);
    pthread_join(t, NULL);
    EXPECT(a.status == VKRT_OK);
    EXPECT(vkrt_session_events(a.s) & VKRT_SESSION_EVENT_CANCELLED);
    /* Usable afterwards, with exactly what was evaluated: the prompt and every token seen. */
    int32_t prompt[64];
    const int32_t np = tokenize("Once upon a time", prompt, 64);
    EXPECT(vkrt_session_pos(a.s) == np + c->n);
    int32_t one = c->ids[0];
    EXPECT(vkrt_eval(a.s, &one, 1) == VKRT_OK);
    EXPECT(vkrt_session_events(a.s) == 0);

    /* A cancelled eval fails with VKRT_ERROR_CANCELLED only while a cancel is pending: a
     * request made between calls is forgotten when the next one starts. */
    EXPECT(vkrt_session_cancel(a.s) == VKRT_OK);
    EXPECT(vkrt_eval(a.s, &one, 1) == VKRT_OK);
    vkrt_session_free(a.s);

    /* Cancel racing free: the canceller sees the handle die, never a freed object. */
    memset(c, 0, sizeof *c);
    vkrt_session* s = new_session(64, VKRT_OVERFLOW_ERROR, 0);
    pthread_t canceller;
    pthread_create(&canceller, NULL, cancel_until_freed, s);
    vkrt_sampler_params greedy = vkrt_sampler_default_params();
    greedy.temperature = 0.0f;
    vkrt_generate(s, "Once upon a time", &greedy, 8, collect, c); /* cancelled at some point, or not */
    vkrt_session_free(s);
    pthread_join(canceller, NULL);
    EXPECT(vkrt_session_cancel(s) == VKRT_ERROR_INVALID_ARGUMENT);
    EXPECT(vkrt_session_cancel(NULL) == VKRT_ERROR_INVALID_ARGUMENT);
    free(c);
}

static int stop_at_half(float fraction, void* user) {
    ++*(int*)user;
    return fraction >= 0.5f;
}

static void test_load_cancel(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/stories260K.gguf", VKRT_MODELS_DIR);
    int calls = 0;
    vkrt_model_params mp = vkrt_model_default_params();
    mp.progress_cancel = stop_at_half;
    mp.progress_user = &calls;
    vkrt_model* m = (vkrt_model*)1;
    EXPECT(vkrt_model_load(ctx, path, &mp, &m) == VKRT_ERROR_CANCELLED);
    EXPECT(m == NULL);
    EXPECT(strstr(vkrt_last_error(), "cancelled by the progress callback") != NULL);
    EXPECT(calls > 1);
}

static void test_state_memory(void) {
    vkrt_sampler_params sp = vkrt_sampler_default_params();
    sp.seed = 7;
    Collect* a = (Collect*)calloc(1, sizeof *a);
    Collect* b = (Collect*)calloc(1, sizeof *b);
    vkrt_session* s = new_session(64, VKRT_OVERFLOW_ERROR, 0);
    EXPECT(vkrt_generate(s, "Once upon a time", &sp, 6, collect, a) == VKRT_OK);
    size_t size = 0, got = 0;
    EXPECT(vkrt_session_state_size(s, &size) == VKRT_OK && size > 88);
    unsigned char* blob = (unsigned char*)malloc(size);
    EXPECT(vkrt_session_state_get(s, blob, size - 1, &got) == VKRT_ERROR_LIMIT_EXCEEDED && got == size);
    EXPECT(vkrt_session_state_get(s, blob, size, &got) == VKRT_OK && got == size);
    a->n = 0;
    EXPECT(vkrt_generate(s, "", &sp, 6, collect, a) == VKRT_OK);
    float* want = logits_copy(s);

    vkrt_session* r = new_session(64, VKRT_OVERFLOW_ERROR, 0);
    int32_t one = 5;
    EXPECT(vkrt_eval(r, &one, 1) == VKRT_OK);
    /* Refused blobs leave r as it was. */
    EXPECT(vkrt_session_state_set(r, blob, size / 2) == VKRT_ERROR_BAD_FORMAT);
    blob[size - 1] ^= 0x10;
    EXPECT(vkrt_session_state_set(r, blob, size) == VKRT_ERROR_BAD_FORMAT);
    EXPECT(strstr(vkrt_last_error(), "checksum") != NULL);
    blob[size - 1] ^= 0x10;
    EXPECT(vkrt_session_state_set(r, NULL, 4) == VKRT_ERROR_INVALID_ARGUMENT);
    EXPECT(vkrt_session_pos(r) == 1);
    EXPECT(vkrt_session_state_set(r, blob, size) == VKRT_OK);
    EXPECT(vkrt_generate(r, "", &sp, 6, collect, b) == VKRT_OK);
    EXPECT(a->n == b->n && memcmp(a->ids, b->ids, sizeof(int32_t) * (size_t)a->n) == 0);
    float* l = logits_copy(r);
    EXPECT(same_logits(l, want));
    free(l);
    free(want);
    free(blob);
    free(a);
    free(b);
    vkrt_session_free(r);
    vkrt_session_free(s);
}

/* save FILE / load FILE: the same seeded sampled conversation across two processes. */
static int run_save_load(const char* mode, const char* file) {
    char expect[1100];
    snprintf(expect, sizeof expect, "%s.expect", file);
    vkrt_sampler_params sp = vkrt_sampler_default_params();
    sp.seed = 1234;
    sp.repeat_penalty = 1.1f;
    Collect* c = (Collect*)calloc(1, sizeof *c);
    vkrt_session* s = new_session(128, VKRT_OVERFLOW_ERROR, 0);
    const int n_vocab = vkrt_model_n_vocab(model);
    if (strcmp(mode, "save") == 0) {
        EXPECT(vkrt_generate(s, "Once upon a time, there was a little", &sp, 10, collect, c) == VKRT_OK);
        EXPECT(vkrt_session_save(s, file) == VKRT_OK);
        c->n = 0;
        EXPECT(vkrt_generate(s, "", &sp, 10, collect, c) == VKRT_OK);
        float* l = logits_copy(s);
        FILE* f = fopen(expect, "wb");
        EXPECT(f && l);
        if (f && l) {
            fwrite(&c->n, sizeof c->n, 1, f);
            fwrite(c->ids, sizeof(int32_t), (size_t)c->n, f);
            fwrite(l, sizeof(float), (size_t)n_vocab, f);
            fclose(f);
        }
        free(l);
    } else {
        EXPECT(vkrt_session_load(s, "/nonexistent/state.bin") == VKRT_ERROR_IO);
        EXPECT(vkrt_session_load(s, file) == VKRT_OK);
        EXPECT(vkrt_generate(s, "", &sp, 10, collect, c) == VKRT_OK);
        float* l = logits_copy(s);
        FILE* f = fopen(expect, "rb");
        EXPECT(f != NULL);
        if (f) {
            int n = 0;
            int32_t ids[MAX_IDS];
            float* want = (float*)malloc(sizeof(float) * (size_t)n_vocab);
            EXPECT(fread(&n, sizeof n, 1, f) == 1 && n > 0 && n <= MAX_IDS);
            EXPECT(fread(ids, sizeof(int32_t), (size_t)n, f) == (size_t)n);
            EXPECT(fread(want, sizeof(float), (size_t)n_vocab, f) == (size_t)n_vocab);
            EXPECT(n == c->n && memcmp(ids, c->ids, sizeof(int32_t) * (size_t)n) == 0);
            EXPECT(same_logits(l, want));
            free(want);
            fclose(f);
        }
        free(l);
    }
    free(c);
    vkrt_session_free(s);
    return 0;
}

int main(int argc, char** argv) {
    char path[1024];
    snprintf(path, sizeof path, "%s/stories260K.gguf", VKRT_MODELS_DIR);
    EXPECT(vkrt_context_create(NULL, &ctx) == VKRT_OK);
    EXPECT(vkrt_model_load(ctx, path, NULL, &model) == VKRT_OK);
    if (!ctx || !model) return 1;
    if (argc == 3) {
        run_save_load(argv[1], argv[2]);
    } else {
        test_truncate();
        test_overflow();
        test_cancel();
        test_load_cancel();
        test_state_memory();
    }
    vkrt_model_free(model);
    vkrt_context_free(ctx);
    printf("%d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}
