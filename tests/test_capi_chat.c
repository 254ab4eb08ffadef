/* The chat section of the C API from C: GGUF metadata by key, chat templates, generation
 * with stop strings (held back while partial), max tokens and finish reasons, logprobs,
 * presence/frequency penalties, logit bias, grammar and JSON Schema constraints, and the
 * bad input of each (NULLs, 0 and 64 KiB stop strings, invalid UTF-8, unknown roles and
 * templates, grammars that do not parse, are left-recursive or accept nothing); the chat call
 * on the session state: prefix reuse across turns and after an edit, cancellation from
 * another thread, a conversation past n_ctx with the context shift. */
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vkrt/vkrt.h"

#include "support/capi_expect.h"

/* What a generation streamed: the concatenated text, the tokens, per-step logprobs. */
typedef struct {
    char text[8192];
    size_t len;
    int32_t tokens[512];
    float logprob[512];
    int n_tokens;
    int calls;
    int stop_after; /* > 0: return non-zero on that call */
    int bad_top;    /* top logprobs not sorted, or the chosen greedy token not first */
    int32_t first_top[VKRT_MAX_TOP_LOGPROBS];
    float first_top_lp[VKRT_MAX_TOP_LOGPROBS];
    int first_n_top;
} stream;

static int on_token(const vkrt_token_info* info, void* user) {
    stream* s = (stream*)user;
    ++s->calls;
    if (info->text_length != strlen(info->text)) s->bad_top = 1;
    if (s->len + info->text_length < sizeof s->text) {
        memcpy(s->text + s->len, info->text, info->text_length);
        s->len += info->text_length;
        s->text[s->len] = 0;
    }
    if (info->token >= 0 && s->n_tokens < 512) {
        if (s->n_tokens == 0) {
            s->first_n_top = info->n_top;
            for (int i = 0; i < info->n_top; ++i) {
                s->first_top[i] = info->top_tokens[i];
                s->first_top_lp[i] = info->top_logprobs[i];
            }
        }
        for (int i = 1; i < info->n_top; ++i)
            if (info->top_logprobs[i] > info->top_logprobs[i - 1]) s->bad_top = 1;
        s->logprob[s->n_tokens] = info->logprob;
        s->tokens[s->n_tokens++] = info->token;
    }
    return s->stop_after > 0 && s->calls >= s->stop_after;
}

static vkrt_session* new_session_overflow(vkrt_model* model, int32_t n_ctx, int32_t overflow, int32_t n_keep) {
    vkrt_session_params sp = vkrt_session_default_params();
    sp.n_ctx = n_ctx;
    sp.overflow = overflow;
    sp.n_keep = n_keep;
    vkrt_session* s = NULL;
    EXPECT(vkrt_session_create(model, &sp, &s) == VKRT_OK);
    return s;
}

static vkrt_session* new_session(vkrt_model* model, int32_t n_ctx) {
    return new_session_overflow(model, n_ctx, VKRT_OVERFLOW_ERROR, 0);
}

static vkrt_generate_params greedy(int32_t max_tokens) {
    vkrt_generate_params p = vkrt_generate_default_params();
    p.sampler.temperature = 0.0f;
    p.max_tokens = max_tokens;
    return p;
}

static void test_metadata(vkrt_model* model) {
    char buf[64];
    size_t len = 0;
    int64_t i = 0;
    double f = 0;
    uint64_t n = 0;
    EXPECT(vkrt_model_meta_has(model, "general.architecture") == 1);
    EXPECT(vkrt_model_meta_has(model, "no.such.key") == 0);
    EXPECT(vkrt_model_meta_has(model, NULL) == 0);
    EXPECT(vkrt_model_meta_string(model, "general.architecture", buf, sizeof buf, &len) == VKRT_OK);
    EXPECT(strcmp(buf, "llama") == 0 && len == 5);
    EXPECT(vkrt_model_meta_string(model, "general.architecture", buf, 3, &len) == VKRT_ERROR_LIMIT_EXCEEDED);
    EXPECT(len == 5);
    EXPECT(vkrt_model_meta_string(model, "general.architecture", NULL, 0, &len) == VKRT_ERROR_LIMIT_EXCEEDED);
    EXPECT(vkrt_model_meta_int(model, "llama.context_length", &i) == VKRT_OK && i == vkrt_model_n_ctx_train(model));
    EXPECT(vkrt_model_meta_float(model, "llama.context_length", &f) == VKRT_OK && f == (double)i);
    EXPECT(vkrt_model_meta_float(model, "llama.attention.layer_norm_rms_epsilon", &f) == VKRT_OK);
    EXPECT(f > 0.0 && f < 1e-3);
    EXPECT(vkrt_model_meta_array_length(model, "tokenizer.ggml.tokens", &n) == VKRT_OK && n == 512);
    /* bad input: missing key, wrong type, NULLs */
    EXPECT(vkrt_model_meta_int(model, "no.such.key", &i) == VKRT_ERROR_INVALID_ARGUMENT);
    EXPECT(strstr(vkrt_last_error(), "no.such.key") != NULL);
    EXPECT(vkrt_model_meta_int(model, "general.architecture", &i) == VKRT_ERROR_INVALID_ARGUMENT);
    EXPECT(strstr(vkrt_last_error(), "STRING") != NULL);
    EXPECT(vkrt_model_meta_string(model, "tokenizer.ggml.tokens", buf, sizeof buf, &len) ==
           VKRT_ERROR_INVALID_ARGUMENT);
    EXPECT(strstr(vkrt_last_error(), "ARRAY of STRING") != NULL);
    EXPECT(vkrt_model_meta_array_length(model, "llama.context_length", &n) == VKRT_ERROR_INVALID_ARGUMENT);
    EXPECT(vkrt_model_meta_float(model, "general.architecture", &f) == VKRT_ERROR_INVALID_ARGUMENT);
    EXPECT(vkrt_model_meta_int(model, NULL, &i) == VKRT_ERROR_INVALID_ARGUMENT);
    EXPECT(vkrt_model_meta_int(model, "llama.context_length", NULL) == VKRT_ERROR_INVALID_ARGUMENT);
    EXPECT(vkrt_model_meta_int(NULL, "llama.context_length", &i) == VKRT_ERROR_INVALID_ARGUMENT);
    /* the calls a finish reason and a status print with; end-of-generation tokens */
    EXPECT(strcmp(vkrt_status_string(VKRT_ERROR_CANCELLED), "cancelled") == 0);
    EXPECT(strcmp(vkrt_status_string(VKRT_OK), "ok") == 0);
    EXPECT(strcmp(vkrt_status_string((vkrt_status)99), "unknown status") == 0);
    EXPECT(strcmp(vkrt_status_string(VKRT_ERROR_INVALID_ARGUMENT), "invalid argument") == 0);
    EXPECT(vkrt_model_is_eog(model, vkrt_model_eos(model)) == 1);
    EXPECT(vkrt_model_is_eog(model, vkrt_model_bos(model)) == 0);
    EXPECT(vkrt_model_is_eog(model, -1) == 0);
    EXPECT(vkrt_model_is_eog(model, 1 << 20) == 0);
    EXPECT(vkrt_model_is_eog(NULL, 2) == 0);
}

static void test_templates(vkrt_model* model) {
    char buf[512];
    size_t len = 0;
    const vkrt_chat_message msgs[] = {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello"}, {"user", "Bye"}};
    /* stories260K has no tokenizer.chat_template */
    EXPECT(strcmp(vkrt_model_chat_template(model), "none") == 0);
    EXPECT(vkrt_chat_apply_template(model, NULL, msgs, 4, 1, buf, sizeof buf, &len) == VKRT_ERROR_UNSUPPORTED);
    EXPECT(strstr(vkrt_last_error(), "tokenizer.chat_template") != NULL);
    /* a named template; the model may be NULL then */
    EXPECT(vkrt_chat_apply_template(NULL, "chatml", msgs, 4, 1, buf, sizeof buf, &len) == VKRT_OK);
    const char* want = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                       "<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
                       "<|im_start|>assistant\n";
    EXPECT(strcmp(buf, want) == 0 && len == strlen(want));
    EXPECT(vkrt_chat_apply_template(model, "chatml", msgs, 4, 0, buf, sizeof buf, &len) == VKRT_OK);
    EXPECT(len == strlen(want) - strlen("<|im_start|>assistant\n"));
    /* a Jinja template recognised by its markers */
    EXPECT(vkrt_chat_apply_template(model, "{{ '<|start_header_id|>' + role + '<|end_header_id|>' }}", msgs + 1, 1,
                                    1, buf, sizeof buf, &len) == VKRT_OK);
    EXPECT(strcmp(buf, "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                       "<|start_header_id|>assistant<|end_header_id|>\n\n") == 0);
    /* too small a buffer: the full length, LIMIT_EXCEEDED */
    EXPECT(vkrt_chat_apply_template(model, "chatml", msgs, 4, 1, buf, 10, &len) == VKRT_ERROR_LIMIT_EXCEEDED);
    EXPECT(len == strlen(want));
    /* bad input: an unknown template is named, unknown roles, invalid UTF-8, NULLs */
    EXPECT(vkrt_chat_apply_template(model, "{% for m in messages %}<<weird>>{% endfor %}", msgs, 4, 1, buf,
                                    sizeof buf, &len) == VKRT_ERROR_UNSUPPORTED);
    EXPECT(strstr(vkrt_last_error(), "<<weird>>") != NULL);
    const vkrt_chat_message robot[] = {{"robot", "beep"}};
    EXPECT(vkrt_chat_apply_template(model, "chatml", robot, 1, 1, buf, sizeof buf, &len) ==
           VKRT_ERROR_INVALID_ARGUMENT);
    EXPECT(strstr(vkrt_last_error(), "robot") != NULL);
    const vkrt_chat_message bad_utf8[] = {{"user", "caf\xC3"}};
    EXPECT(vkrt_chat_apply_template(model, "chatml", bad_utf8, 1, 1, buf, sizeof buf, &len) ==
           VKRT_ERROR_INVALID_ARGUMENT);
    EXPECT(strstr(vkrt_last_error(), "UTF-8") != NULL);
    const vkrt_chat_message null_content[] = {{"user", NULL}};
    EXPECT(vkrt_chat_apply_template(model, "chatml", null_content, 1, 1, buf, sizeof buf, &len) ==
           VKRT_ERROR_INVALID_ARGUMENT);
    EXPECT(vkrt_chat_apply_template(model, "chatml", NULL, 1, 1, buf, sizeof buf, &len) ==
           VKRT_ERROR_INVALID_ARGUMENT);
    EXPECT(vkrt_chat_apply_template(NULL, NULL, msgs, 4, 1, buf, sizeof buf, &len) == VKRT_ERROR_INVALID_ARGUMENT);
    EXPECT(vkrt_chat_apply_template(model, "chatml", msgs, 4, 1, buf, sizeof buf, NULL) ==
           VKRT_ERROR_INVALID_ARGUMENT);
}

/* Greedy text of 40 tokens after `prompt` on a fresh session. */
static void greedy_text(vkrt_model* model, const char* prompt, stream* out) {
    vkrt_session* s = new_session(model, 256);
    vkrt_generate_params p = greedy(40);
    vkrt_generate_result r;
    memset(out, 0, sizeof *out);
    EXPECT(vkrt_generate_text(s, prompt, &p, on_token, out, &r) == VKRT_OK);
    EXPECT(r.finish_reason == VKRT_FINISH_LENGTH && r.n_generated == 40 && out->n_tokens == 40);
    EXPECT(strcmp(vkrt_finish_reason_string(r.finish_reason), "length") == 0);
    vkrt_session_free(s);
}

static void test_generation(vkrt_model* model) {
    const char* prompt = "Once upon a time";
    stream ref;
    greedy_text(model, prompt, &ref);
    EXPECT(ref.len > 20);
    /* the streamed text is the detokenized tokens (no stop strings: nothing held back) */
    char detok[8192];
    size_t dl = 0;
    EXPECT(vkrt_detokenize(model, ref.tokens, ref.n_tokens, detok, sizeof detok, &dl) == VKRT_OK);
    EXPECT(dl == ref.len && memcmp(detok, ref.text, dl) == 0);

    /* stop string: 6 bytes from the middle of the greedy text; the reply is the text before
     * its first occurrence, and no streamed piece contains any of it */
    char stop[8];
    memcpy(stop, ref.text + 15, 6);
    stop[6] = 0;
    const char* first = strstr(ref.text, stop);
    const size_t before = (size_t)(first - ref.text);
    {
        vkrt_session* s = new_session(model, 256);
        vkrt_generate_params p = greedy(40);
        const char* stops[] = {"never appears in a story \xE2\x9C\x93", stop};
        p.stop = stops;
        p.n_stop = 2;
        stream st;
        memset(&st, 0, sizeof st);
        vkrt_generate_result r;
        EXPECT(vkrt_generate_text(s, prompt, &p, on_token, &st, &r) == VKRT_OK);
        EXPECT(r.finish_reason == VKRT_FINISH_STOP_STRING);
        EXPECT(st.len == before && memcmp(st.text, ref.text, before) == 0);
        EXPECT(strstr(st.text, stop) == NULL);
        /* every token the callback saw is evaluated: prompt + generated */
        EXPECT(vkrt_session_pos(s) == r.n_prompt + r.n_generated);
        vkrt_session_free(s);
    }
    /* a stop string that would end inside the text held back to the end: flushed at the end */
    {
        vkrt_session* s = new_session(model, 256);
        vkrt_generate_params p = greedy(40);
        char tail_stop[64];
        snprintf(tail_stop, sizeof tail_stop, "%c\x01", ref.text[ref.len - 1]);
        const char* stops[] = {tail_stop};
        p.stop = stops;
        p.n_stop = 1;
        stream st;
        memset(&st, 0, sizeof st);
        vkrt_generate_result r;
        EXPECT(vkrt_generate_text(s, prompt, &p, on_token, &st, &r) == VKRT_OK);
        EXPECT(r.finish_reason == VKRT_FINISH_LENGTH);
        EXPECT(st.len == ref.len && memcmp(st.text, ref.text, ref.len) == 0);
        EXPECT(st.calls == 41); /* 40 tokens + the flush of the held-back last byte */
        vkrt_session_free(s);
    }
    /* cancel from the callback: finish reason, the session holds prompt + seen tokens */
    {
        vkrt_session* s = new_session(model, 256);
        vkrt_generate_params p = greedy(40);
        stream st;
        memset(&st, 0, sizeof st);
        st.stop_after = 5;
        vkrt_generate_result r;
        EXPECT(vkrt_generate_text(s, prompt, &p, on_token, &st, &r) == VKRT_OK);
        EXPECT(r.finish_reason == VKRT_FINISH_CANCELLED && r.n_generated == 5);
        EXPECT(vkrt_session_pos(s) == r.n_prompt + 5);
        /* continuing with an empty prompt gives the rest of the greedy text */
        stream more;
        memset(&more, 0, sizeof more);
        p.max_tokens = 35;
        EXPECT(vkrt_generate_text(s, "", &p, on_token, &more, &r) == VKRT_OK);
        EXPECT(r.n_prompt == 0 && more.n_tokens == 35 && memcmp(more.tokens, ref.tokens + 5, 35 * 4) == 0);
        vkrt_session_free(s);
    }
    /* context full */
    {
        vkrt_session* s = new_session(model, 24);
        vkrt_generate_params p = greedy(-1);
        vkrt_generate_result r;
        EXPECT(vkrt_generate_text(s, prompt, &p, NULL, NULL, &r) == VKRT_OK);
        EXPECT(r.finish_reason == VKRT_FINISH_CONTEXT_FULL && vkrt_session_pos(s) == 24);
        EXPECT(strcmp(vkrt_finish_reason_string(r.finish_reason), "context_full") == 0);
        /* max_tokens 0: only the prompt */
        vkrt_session_reset(s);
        p.max_tokens = 0;
        EXPECT(vkrt_generate_text(s, prompt, &p, NULL, NULL, &r) == VKRT_OK);
        EXPECT(r.finish_reason == VKRT_FINISH_LENGTH && r.n_generated == 0 && vkrt_session_pos(s) == r.n_prompt);
        vkrt_session_free(s);
    }
    /* logit bias: +inf-like on EOS ends at once (EOG, nothing streamed); -inf bans the greedy token */
    {
        vkrt_session* s = new_session(model, 256);
        vkrt_generate_params p = greedy(10);
        vkrt_logit_bias bias[] = {{vkrt_model_eos(model), 1000.0f}};
        p.logit_bias = bias;
        p.n_logit_bias = 1;
        stream st;
        memset(&st, 0, sizeof st);
        vkrt_generate_result r;
        EXPECT(vkrt_generate_text(s, prompt, &p, on_token, &st, &r) == VKRT_OK);
        EXPECT(r.finish_reason == VKRT_FINISH_EOG && r.n_generated == 1 && st.calls == 0);
        EXPECT(strcmp(vkrt_finish_reason_string(VKRT_FINISH_EOG), "eog") == 0);
        vkrt_session_reset(s);
        bias[0].token = ref.tokens[0];
        bias[0].bias = -INFINITY;
        memset(&st, 0, sizeof st);
        EXPECT(vkrt_generate_text(s, prompt, &p, on_token, &st, &r) == VKRT_OK);
        EXPECT(st.n_tokens > 0 && st.tokens[0] != ref.tokens[0]);
        bias[0].token = 512; /* outside the vocabulary */
        EXPECT(vkrt_generate_text(s, "", &p, NULL, NULL, &r) == VKRT_ERROR_INVALID_ARGUMENT);
        EXPECT(strstr(vkrt_last_error(), "512") != NULL);
        bias[0].token = 1;
        bias[0].bias = NAN;
        EXPECT(vkrt_generate_text(s, "", &p, NULL, NULL, &r) == VKRT_ERROR_INVALID_ARGUMENT);
        vkrt_session_free(s);
    }
    /* logprobs: the first token's against the logits computed here; top n sorted, greedy first */
    {
        vkrt_session* s = new_session(model, 256);
        int32_t ids[64];
        int32_t n = 0;
        EXPECT(vkrt_tokenize(model, prompt, 1, 1, ids, 64, &n) == VKRT_OK);
        EXPECT(vkrt_eval(s, ids, n) == VKRT_OK);
        const float* logits = NULL;
        int32_t nv = 0;
        EXPECT(vkrt_get_logits(s, &logits, &nv) == VKRT_OK);
        double mx = -INFINITY, sum = 0;
        for (int i = 0; i < nv; ++i) mx = logits[i] > mx ? logits[i] : mx;
        for (int i = 0; i < nv; ++i) sum += exp(logits[i] - mx);
        const double want = logits[ref.tokens[0]] - mx - log(sum);
        vkrt_generate_params p = greedy(8);
        p.logprobs = 1;
        p.top_logprobs = 5;
        stream st;
        memset(&st, 0, sizeof st);
        vkrt_generate_result r;
        EXPECT(vkrt_generate_text(s, "", &p, on_token, &st, &r) == VKRT_OK);
        EXPECT(st.tokens[0] == ref.tokens[0] && fabs(st.logprob[0] - want) < 1e-4);
        EXPECT(st.first_n_top == 5 && st.first_top[0] == ref.tokens[0] && st.first_top_lp[0] == st.logprob[0]);
        EXPECT(!st.bad_top);
        for (int i = 0; i < st.n_tokens; ++i) EXPECT(st.logprob[i] <= 0.0f);
        p.top_logprobs = VKRT_MAX_TOP_LOGPROBS + 1;
        EXPECT(vkrt_generate_text(s, "", &p, NULL, NULL, &r) == VKRT_ERROR_INVALID_ARGUMENT);
        p.top_logprobs = 3;
        p.logprobs = 0;
        EXPECT(vkrt_generate_text(s, "", &p, NULL, NULL, &r) == VKRT_ERROR_INVALID_ARGUMENT);
        vkrt_session_free(s);
    }
    /* presence / frequency penalties: a large one forbids any repeat of a generated token */
    {
        int repeats = 0;
        for (int i = 0; i < ref.n_tokens; ++i)
            for (int j = 0; j < i; ++j) repeats += ref.tokens[i] == ref.tokens[j];
        EXPECT(repeats > 0); /* so that the check below can fail */
        for (int which = 0; which < 2; ++which) {
            vkrt_session* s = new_session(model, 256);
            vkrt_generate_params p = greedy(40);
            if (which == 0) p.presence_penalty = 100.0f;
            else p.frequency_penalty = 100.0f;
            stream st;
            memset(&st, 0, sizeof st);
            vkrt_generate_result r;
            EXPECT(vkrt_generate_text(s, prompt, &p, on_token, &st, &r) == VKRT_OK);
            int rep = 0;
            for (int i = 0; i < st.n_tokens; ++i)
                for (int j = 0; j < i; ++j) rep += st.tokens[i] == st.tokens[j];
            EXPECT(st.n_tokens == 40 && rep == 0);
            p.presence_penalty = INFINITY;
            EXPECT(vkrt_generate_text(s, "", &p, NULL, NULL, &r) == VKRT_ERROR_INVALID_ARGUMENT);
            vkrt_session_free(s);
        }
    }
    /* bad stop strings: 0 bytes, 64 KiB, invalid UTF-8, NULL, too many */
    {
        vkrt_session* s = new_session(model, 256);
        vkrt_generate_params p = greedy(4);
        vkrt_generate_result r;
        char* big = (char*)malloc(65537);
        memset(big, 'a', 65536);
        big[65536] = 0;
        const char* stops[VKRT_MAX_STOP_STRINGS + 1];
        for (int i = 0; i <= VKRT_MAX_STOP_STRINGS; ++i) stops[i] = "x";
        p.stop = stops;
        p.n_stop = 1;
        stops[0] = "";
        EXPECT(vkrt_generate_text(s, prompt, &p, NULL, NULL, &r) == VKRT_ERROR_INVALID_ARGUMENT);
        EXPECT(strstr(vkrt_last_error(), "0 bytes") != NULL && vkrt_session_pos(s) == 0);
        stops[0] = big;
        EXPECT(vkrt_generate_text(s, prompt, &p, NULL, NULL, &r) == VKRT_ERROR_INVALID_ARGUMENT);
        EXPECT(strstr(vkrt_last_error(), "65536 bytes") != NULL);
        big[65535] = 0; /* the longest allowed */
        EXPECT(vkrt_generate_text(s, prompt, &p, NULL, NULL, &r) == VKRT_OK && r.finish_reason == VKRT_FINISH_LENGTH);
        stops[0] = "\xFF";
        EXPECT(vkrt_generate_text(s, "", &p, NULL, NULL, &r) == VKRT_ERROR_INVALID_ARGUMENT);
        EXPECT(strstr(vkrt_last_error(), "UTF-8") != NULL);
        stops[0] = NULL;
        EXPECT(vkrt_generate_text(s, "", &p, NULL, NULL, &r) == VKRT_ERROR_INVALID_ARGUMENT);
        stops[0] = "x";
        p.n_stop = VKRT_MAX_STOP_STRINGS + 1;
        EXPECT(vkrt_generate_text(s, "", &p, NULL, NULL, &r) == VKRT_ERROR_INVALID_ARGUMENT);
        p.n_stop = -1;
        EXPECT(vkrt_generate_text(s, "", &p, NULL, NULL, &r) == VKRT_ERROR_INVALID_ARGUMENT);
        EXPECT(r.finish_reason == VKRT_FINISH_NONE);
        EXPECT(vkrt_generate_text(s, "caf\xC3", NULL, NULL, NULL, &r) == VKRT_ERROR_INVALID_ARGUMENT);
        EXPECT(vkrt_generate_text(s, NULL, NULL, NULL, NULL, &r) == VKRT_ERROR_INVALID_ARGUMENT);
        EXPECT(vkrt_generate_text(NULL, "x", NULL, NULL, NULL, &r) == VKRT_ERROR_INVALID_ARGUMENT);
        free(big);
        vkrt_session_free(s);
    }
}

static void test_chat(vkrt_model* model) {
    vkrt_session* s = new_session(model, 512);
    vkrt_generate_params p = greedy(0);
    p.chat_template = "chatml";
    vkrt_chat_message msgs[4] = {{"system", "You tell stories."}, {"user", "Tell me about a cat."}, {0, 0}, {0, 0}};
    vkrt_generate_result r;
    stream st;
    memset(&st, 0, sizeof st);
    /* turn 1 with max_tokens 0: the prompt only */
    EXPECT(vkrt_chat_generate(s, msgs, 2, &p, on_token, &st, &r) == VKRT_OK);
    EXPECT(r.finish_reason == VKRT_FINISH_LENGTH && r.n_cached == 0 && vkrt_session_pos(s) == r.n_prompt);
    const int32_t n1 = r.n_prompt;
    /* turn 2 extends the conversation: the cached prompt is reused */
    msgs[2].role = "assistant";
    msgs[2].content = "Once upon a time there was a cat.";
    msgs[3].role = "user";
    msgs[3].content = "More!";
    p.max_tokens = 12;
    EXPECT(vkrt_chat_generate(s, msgs, 4, &p, on_token, &st, &r) == VKRT_OK);
    EXPECT(r.n_cached > n1 / 2 && r.n_cached < r.n_prompt && r.n_generated > 0);
    EXPECT(vkrt_session_pos(s) == r.n_prompt + r.n_generated ||
           (r.finish_reason == VKRT_FINISH_EOG && vkrt_session_pos(s) == r.n_prompt + r.n_generated - 1));
    /* the template's own stop string ends the reply: ban nothing, add "<|im_end|>" pieces by bias? Instead
     * check that a user stop string works through the chat call as well */
    const char* stops[] = {"e"};
    p.stop = stops;
    p.n_stop = 1;
    memset(&st, 0, sizeof st);
    EXPECT(vkrt_chat_generate(s, msgs, 4, &p, on_token, &st, &r) == VKRT_OK);
    EXPECT(strchr(st.text, 'e') == NULL);
    EXPECT(r.finish_reason == VKRT_FINISH_STOP_STRING || r.finish_reason == VKRT_FINISH_LENGTH ||
           r.finish_reason == VKRT_FINISH_EOG);
    /* the template's own stop string (ChatML's <|im_end|>, spelled out: not a token of this
     * vocabulary) ends the reply, and no piece of it is streamed; a grammar makes the model
     * spell it */
    p.n_stop = 0;
    p.max_tokens = 64;
    p.grammar = "root ::= \"Hi <there>\" \"<|im_end|>\" \" and more\"\n";
    memset(&st, 0, sizeof st);
    EXPECT(vkrt_chat_generate(s, msgs, 4, &p, on_token, &st, &r) == VKRT_OK);
    EXPECT(r.finish_reason == VKRT_FINISH_STOP_STRING);
    EXPECT(strcmp(st.text, "Hi <there>") == 0);
    p.grammar = NULL;
    /* bad input */
    EXPECT(vkrt_chat_generate(s, msgs, 0, &p, NULL, NULL, &r) == VKRT_ERROR_INVALID_ARGUMENT);
    msgs[3].role = "tool";
    EXPECT(vkrt_chat_generate(s, msgs, 4, &p, NULL, NULL, &r) == VKRT_ERROR_INVALID_ARGUMENT);
    EXPECT(strstr(vkrt_last_error(), "tool") != NULL);
    msgs[3].role = "user";
    p.chat_template = NULL; /* the model has none */
    EXPECT(vkrt_chat_generate(s, msgs, 4, &p, NULL, NULL, &r) == VKRT_ERROR_UNSUPPORTED);
    p.chat_template = "{{ bos_token }}unknown";
    EXPECT(vkrt_chat_generate(s, msgs, 4, &p, NULL, NULL, &r) == VKRT_ERROR_UNSUPPORTED);
    EXPECT(strstr(vkrt_last_error(), "{{ bos_token }}unknown") != NULL);
    vkrt_session_free(s);
}

/* ---- the chat call on the session state (rewind, cancel, context shift) ---- */

/* The greedy reply of a fresh session to msgs: what a turn that reused the cache must give. */
static void fresh_reply(vkrt_model* model, const vkrt_chat_message* msgs, size_t n, const vkrt_generate_params* p,
                        stream* out) {
    vkrt_session* f = new_session(model, 512);
    vkrt_generate_result r;
    memset(out, 0, sizeof *out);
    EXPECT(vkrt_chat_generate(f, msgs, n, p, on_token, out, &r) == VKRT_OK);
    EXPECT(r.n_cached == 0);
    vkrt_session_free(f);
}

static void test_chat_reuse(vkrt_model* model) {
    vkrt_session* s = new_session(model, 512);
    vkrt_generate_params p = greedy(12);
    p.chat_template = "chatml";
    vkrt_chat_message msgs[4] = {{"system", "You tell stories."}, {"user", "Tell me about a cat."}, {0, 0}, {0, 0}};
    vkrt_generate_result r;
    stream st, fresh;
    memset(&st, 0, sizeof st);
    EXPECT(vkrt_chat_generate(s, msgs, 2, &p, on_token, &st, &r) == VKRT_OK);
    EXPECT(r.n_cached == 0 && r.n_generated > 0);
    const int32_t n1 = r.n_prompt;
    char reply[8192];
    memcpy(reply, st.text, st.len + 1);
    /* turn 2: the cache holds turn 1's prompt and reply tokens, the rendering differs from
     * the end of the reply on (its end-of-turn): the session rewinds to the common prefix
     * and evaluates only the rest, with the reply a fresh session gives */
    msgs[2].role = "assistant";
    msgs[2].content = reply;
    msgs[3].role = "user";
    msgs[3].content = "More!";
    memset(&st, 0, sizeof st);
    EXPECT(vkrt_chat_generate(s, msgs, 4, &p, on_token, &st, &r) == VKRT_OK);
    EXPECT(r.n_cached > 0 && r.n_cached >= n1 - 1 && r.n_cached < r.n_prompt);
    EXPECT(vkrt_session_pos(s) == r.n_prompt + r.n_generated ||
           (r.finish_reason == VKRT_FINISH_EOG && vkrt_session_pos(s) == r.n_prompt + r.n_generated - 1));
    fresh_reply(model, msgs, 4, &p, &fresh);
    EXPECT(strcmp(st.text, fresh.text) == 0);
    const int32_t n2 = r.n_prompt;
    /* regenerate after an edit of the last message: everything before it comes from the cache */
    msgs[3].content = "Tell me about a dog instead.";
    memset(&st, 0, sizeof st);
    EXPECT(vkrt_chat_generate(s, msgs, 4, &p, on_token, &st, &r) == VKRT_OK);
    EXPECT(r.n_cached >= n1 && r.n_cached < n2 && r.n_cached < r.n_prompt);
    fresh_reply(model, msgs, 4, &p, &fresh);
    EXPECT(strcmp(st.text, fresh.text) == 0);
    /* regenerate the same message: only its last token is evaluated again */
    memset(&st, 0, sizeof st);
    EXPECT(vkrt_chat_generate(s, msgs, 4, &p, on_token, &st, &r) == VKRT_OK);
    EXPECT(r.n_cached == r.n_prompt - 1);
    EXPECT(strcmp(st.text, fresh.text) == 0);
    vkrt_session_free(s);
}

/* Cancel from another thread: the generation holds its first token in the callback until
 * the other thread has called vkrt_session_cancel, then goes on; the next step ends it. */
typedef struct {
    vkrt_session* s;
    atomic_int started, cancelled;
} cancel_arg;

static int hold_first_token(const vkrt_token_info* info, void* user) {
    cancel_arg* a = (cancel_arg*)user;
    (void)info;
    atomic_store(&a->started, 1);
    while (!atomic_load(&a->cancelled)) sched_yield();
    return 0;
}

static void* cancel_when_started(void* user) {
    cancel_arg* a = (cancel_arg*)user;
    while (!atomic_load(&a->started)) sched_yield();
    EXPECT(vkrt_session_cancel(a->s) == VKRT_OK);
    atomic_store(&a->cancelled, 1);
    return NULL;
}

static void test_chat_cancel(vkrt_model* model) {
    vkrt_session* s = new_session(model, 512);
    vkrt_generate_params p = greedy(64);
    p.chat_template = "chatml";
    const vkrt_logit_bias no_eos = {vkrt_model_eos(model), -INFINITY};
    p.logit_bias = &no_eos;
    p.n_logit_bias = 1;
    vkrt_chat_message msgs[2] = {{"system", "You tell stories."}, {"user", "Tell me about a cat."}};
    cancel_arg a;
    a.s = s;
    atomic_init(&a.started, 0);
    atomic_init(&a.cancelled, 0);
    pthread_t t;
    EXPECT(pthread_create(&t, NULL, cancel_when_started, &a) == 0);
    vkrt_generate_result r;
    EXPECT(vkrt_chat_generate(s, msgs, 2, &p, hold_first_token, &a, &r) == VKRT_OK);
    pthread_join(t, NULL);
    EXPECT(r.finish_reason == VKRT_FINISH_CANCELLED && r.n_generated == 1);
    EXPECT((vkrt_session_events(s) & VKRT_SESSION_EVENT_CANCELLED) != 0);
    EXPECT(vkrt_session_pos(s) == r.n_prompt + 1); /* the token the callback saw is evaluated */
    /* the session stays usable: the next turn reuses the prompt and runs to max_tokens */
    stream st;
    memset(&st, 0, sizeof st);
    p.max_tokens = 4;
    EXPECT(vkrt_chat_generate(s, msgs, 2, &p, on_token, &st, &r) == VKRT_OK);
    EXPECT(r.finish_reason == VKRT_FINISH_LENGTH && r.n_generated == 4 && r.n_cached == r.n_prompt - 1);
    EXPECT(vkrt_session_events(s) == 0);
    vkrt_session_free(s);
}

/* A conversation of more than 3x n_ctx tokens: under the shift policy every turn goes on
 * (the cache shifted, the rendered conversation losing its start once it does not fit);
 * under the error policy a turn ends with CONTEXT_FULL. */
static void test_chat_past_n_ctx(vkrt_model* model) {
    enum { N_CTX = 256, TURNS = 12 };
    vkrt_session* s = new_session_overflow(model, N_CTX, VKRT_OVERFLOW_SHIFT, 1);
    vkrt_generate_params p = greedy(48);
    p.chat_template = "chatml";
    const vkrt_logit_bias no_eos = {vkrt_model_eos(model), -INFINITY};
    p.logit_bias = &no_eos;
    p.n_logit_bias = 1;
    vkrt_chat_message msgs[2 + 2 * TURNS];
    static char replies[TURNS][8192];
    size_t n = 0;
    msgs[n].role = "system";
    msgs[n++].content = "You tell stories.";
    int shifted = 0, cached = 0;
    for (int turn = 0; turn < TURNS; ++turn) {
        msgs[n].role = "user";
        msgs[n++].content = turn % 2 ? "Go on." : "Tell me more about the cat.";
        stream st;
        memset(&st, 0, sizeof st);
        vkrt_generate_result r;
        EXPECT(vkrt_chat_generate(s, msgs, n, &p, on_token, &st, &r) == VKRT_OK);
        EXPECT(r.finish_reason != VKRT_FINISH_CONTEXT_FULL && r.finish_reason != VKRT_FINISH_NONE);
        EXPECT(r.n_generated > 0 && vkrt_session_pos(s) <= N_CTX);
        if (vkrt_session_events(s) & VKRT_SESSION_EVENT_SHIFTED) ++shifted;
        if (turn > 0 && r.n_cached > 1) ++cached; /* more than BOS kept across a turn */
        memcpy(replies[turn], st.text, st.len + 1);
        msgs[n].role = "assistant";
        msgs[n++].content = replies[turn];
    }
    /* the conversation's length: its rendering, tokenized */
    static char rendered[1 << 16];
    size_t len = 0;
    EXPECT(vkrt_chat_apply_template(model, "chatml", msgs, n, 0, rendered, sizeof rendered, &len) == VKRT_OK);
    int32_t n_tokens = 0;
    EXPECT(vkrt_tokenize(model, rendered, 1, 1, NULL, 0, &n_tokens) == VKRT_ERROR_LIMIT_EXCEEDED);
    EXPECT(n_tokens > 3 * N_CTX);
    EXPECT(shifted > 0);
    EXPECT(cached > 0);
    vkrt_session_free(s);
    /* the error policy: the reply ends at n_ctx */
    s = new_session_overflow(model, N_CTX, VKRT_OVERFLOW_ERROR, 0);
    p.max_tokens = -1;
    vkrt_generate_result r;
    EXPECT(vkrt_chat_generate(s, msgs, 2, &p, NULL, NULL, &r) == VKRT_OK);
    EXPECT(r.finish_reason == VKRT_FINISH_CONTEXT_FULL && vkrt_session_pos(s) == N_CTX);
    EXPECT((vkrt_session_events(s) & VKRT_SESSION_EVENT_CONTEXT_FULL) != 0);
    vkrt_session_free(s);
}

/* Constrained output: the text must be one the grammar accepts, and the grammar's end ends it. */
static void test_grammar(vkrt_model* model) {
    vkrt_session* s = new_session(model, 256);
    vkrt_generate_params p = vkrt_generate_default_params();
    p.sampler.seed = 7;
    p.max_tokens = 64;
    vkrt_generate_result r;
    stream st;
    for (int round = 0; round < 4; ++round) {
        memset(&st, 0, sizeof st);
        vkrt_session_reset(s);
        p.sampler.seed = (uint64_t)round;
        p.grammar = "root ::= answer \".\"\nanswer ::= \"yes\" | \"no\" | \"maybe\"  # a comment\n";
        EXPECT(vkrt_generate_text(s, "Once upon a time", &p, on_token, &st, &r) == VKRT_OK);
        EXPECT(r.finish_reason == VKRT_FINISH_EOG);
        EXPECT(strcmp(st.text, "yes.") == 0 || strcmp(st.text, "no.") == 0 || strcmp(st.text, "maybe.") == 0);
    }
    p.grammar = NULL;
    p.json_schema = "{\"enum\": [\"red\", \"green\", 42]}";
    memset(&st, 0, sizeof st);
    vkrt_session_reset(s);
    EXPECT(vkrt_generate_text(s, "Once", &p, on_token, &st, &r) == VKRT_OK);
    EXPECT(r.finish_reason == VKRT_FINISH_EOG);
    EXPECT(strncmp(st.text, "\"red\"", 5) == 0 || strncmp(st.text, "\"green\"", 7) == 0 ||
           strncmp(st.text, "42", 2) == 0);
    /* bad grammars: position of the error, left recursion, empty language, both given */
    p.json_schema = NULL;
    p.grammar = "root ::= \"a\" foo\n";
    EXPECT(vkrt_generate_text(s, "", &p, NULL, NULL, &r) == VKRT_ERROR_INVALID_ARGUMENT);
    EXPECT(strstr(vkrt_last_error(), "line 1, column 14") != NULL && strstr(vkrt_last_error(), "foo") != NULL);
    EXPECT(vkrt_grammar_check("root ::= \"a\"\nb ::= [a-z\n", NULL) == VKRT_ERROR_INVALID_ARGUMENT);
    EXPECT(strstr(vkrt_last_error(), "line 2") != NULL);
    EXPECT(vkrt_grammar_check("root ::= root \"a\" | \"a\"\n", NULL) == VKRT_ERROR_INVALID_ARGUMENT);
    EXPECT(strstr(vkrt_last_error(), "left-recursive") != NULL);
    EXPECT(vkrt_grammar_check("root ::= [] \"a\"\n", NULL) == VKRT_ERROR_INVALID_ARGUMENT);
    EXPECT(strstr(vkrt_last_error(), "empty") != NULL);
    EXPECT(vkrt_grammar_check("root ::= \"a\"", "{}") == VKRT_ERROR_INVALID_ARGUMENT);
    EXPECT(vkrt_grammar_check(NULL, "{\"type\": \"object\", \"properties\": {\"a\": {\"$ref\": \"#/x\"}}}") ==
           VKRT_ERROR_INVALID_ARGUMENT);
    EXPECT(strstr(vkrt_last_error(), "$ref") != NULL && strstr(vkrt_last_error(), "#/properties/a") != NULL);
    EXPECT(vkrt_grammar_check(NULL, "{\"type\": \"object\",\n \"properties\": }") == VKRT_ERROR_INVALID_ARGUMENT);
    EXPECT(strstr(vkrt_last_error(), "line 2, column 16") != NULL);
    EXPECT(vkrt_grammar_check("root ::= [a-z]+ (\",\" [a-z]+)*\n", NULL) == VKRT_OK);
    EXPECT(vkrt_grammar_check(NULL, NULL) == VKRT_OK);
    char g[4096];
    size_t len = 0;
    EXPECT(vkrt_json_schema_to_grammar("{\"type\": \"boolean\"}", g, sizeof g, &len) == VKRT_OK);
    EXPECT(strncmp(g, "root ::= boolean", 16) == 0 && len == strlen(g));
    EXPECT(vkrt_json_schema_to_grammar("{\"type\": \"boolean\"}", g, 4, &len) == VKRT_ERROR_LIMIT_EXCEEDED);
    EXPECT(vkrt_json_schema_to_grammar(NULL, g, sizeof g, &len) == VKRT_ERROR_INVALID_ARGUMENT);
    vkrt_session_free(s);
}

int main(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/stories260K.gguf", VKRT_MODELS_DIR);
    vkrt_context* ctx = NULL;
    vkrt_context_params cp = vkrt_context_default_params();
    EXPECT(vkrt_context_create(&cp, &ctx) == VKRT_OK);
    vkrt_model* model = NULL;
    EXPECT(vkrt_model_load(ctx, path, NULL, &model) == VKRT_OK);
    if (!model) return 1;
    test_metadata(model);
    test_templates(model);
    test_generation(model);
    test_chat(model);
    test_chat_reuse(model);
    test_chat_cancel(model);
    test_chat_past_n_ctx(model);
    test_grammar(model);
    vkrt_model_free(model);
    vkrt_context_free(ctx);
    printf("%d checks, %d failures\n", checks, failures);
    return failures != 0;
}
