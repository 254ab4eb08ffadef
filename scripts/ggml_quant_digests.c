// ggml's own encoders over every tensor of a GGUF file of F32 tensors: one line per tensor,
// format and mode with the FNV-1a 64 digest of the bytes written, for
// tests/test_quant_encoders.cpp (vkrt's registry encoders must reproduce every line). Built
// and run by scripts/ggml_quant_digests.sh against a llama.cpp checkout; links only ggml's
// ggml-quants.c (no vkrt code, and its own minimal GGUF parser, so a vkrt bug cannot hide here).
//
// Modes:
//   ref      quantize_row_<fmt>_ref over the whole tensor (fmt::traits(f).quantize)
//   chunk    quantize_<fmt>(src, dst, nrows, n_per_row, NULL): what llama-quantize writes
//            without an importance matrix (fmt::traits(f).quantize_weighted with nullptr)
//   imatrix  quantize_<fmt>(..., imatrix) with the synthetic importance imp(j) below, which
//            exercises ggml's importance-weighted searches (quantize_weighted with weights)
// A format is listed for a tensor only when its block divides the rows (F32 rows of 1-D
// tensors count as rows too).
//
// usage: ggml_quant_digests MODELS_DIR REL_PATH...
// output: REL_PATH TENSOR TYPE MODE N_ELEMENTS DIGEST(16 hex digits)
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml-impl.h"
#include "ggml-quants.h"

void ggml_abort(const char* file, int line, const char* fmt, ...) {
    fprintf(stderr, "ggml_abort at %s:%d (%s)\n", file, line, fmt);
    abort();
}

typedef struct {
    uint32_t type;
    const char* name;
    int qk, bytes;
} TypeInfo;
static const TypeInfo kTypes[] = {
    {GGML_TYPE_F16, "F16", 1, 2},
    {GGML_TYPE_BF16, "BF16", 1, 2},
    {GGML_TYPE_Q4_0, "Q4_0", QK4_0, sizeof(block_q4_0)},
    {GGML_TYPE_Q4_1, "Q4_1", QK4_1, sizeof(block_q4_1)},
    {GGML_TYPE_Q5_0, "Q5_0", QK5_0, sizeof(block_q5_0)},
    {GGML_TYPE_Q5_1, "Q5_1", QK5_1, sizeof(block_q5_1)},
    {GGML_TYPE_Q8_0, "Q8_0", QK8_0, sizeof(block_q8_0)},
    {GGML_TYPE_Q2_K, "Q2_K", QK_K, sizeof(block_q2_K)},
    {GGML_TYPE_Q3_K, "Q3_K", QK_K, sizeof(block_q3_K)},
    {GGML_TYPE_Q4_K, "Q4_K", QK_K, sizeof(block_q4_K)},
    {GGML_TYPE_Q5_K, "Q5_K", QK_K, sizeof(block_q5_K)},
    {GGML_TYPE_Q6_K, "Q6_K", QK_K, sizeof(block_q6_K)},
    {GGML_TYPE_IQ4_NL, "IQ4_NL", QK4_NL, sizeof(block_iq4_nl)},
    {GGML_TYPE_IQ4_XS, "IQ4_XS", QK_K, sizeof(block_iq4_xs)},
};
#define N_TYPES (sizeof kTypes / sizeof kTypes[0])

size_t ggml_row_size(enum ggml_type type, int64_t ne) {
    for (size_t i = 0; i < N_TYPES; ++i)
        if (kTypes[i].type == (uint32_t)type) return (size_t)(ne / kTypes[i].qk) * (size_t)kTypes[i].bytes;
    abort();
}
const char* ggml_type_name(enum ggml_type type) { (void)type; return "?"; }
size_t ggml_type_size(enum ggml_type type) {
    for (size_t i = 0; i < N_TYPES; ++i)
        if (kTypes[i].type == (uint32_t)type) return (size_t)kTypes[i].bytes;
    abort();
}

// The synthetic importance of column j: positive, uneven (a few columns ~10x the rest), and
// simple enough to write down in the test: 0.25 + (j * 37 % 101) / 16.
static float imp(int64_t j) { return 0.25f + (float)((j * 37) % 101) / 16.0f; }

static void die(const char* what, const char* path) {
    fprintf(stderr, "ggml_quant_digests: %s: %s\n", path, what);
    exit(1);
}

typedef struct {
    const uint8_t* p;
    size_t n, pos;
    const char* path;
} Cur;
static const uint8_t* take(Cur* c, size_t n) {
    if (n > c->n - c->pos) die("truncated", c->path);
    const uint8_t* r = c->p + c->pos;
    c->pos += n;
    return r;
}
static uint32_t u32(Cur* c) { uint32_t v; memcpy(&v, take(c, 4), 4); return v; }
static uint64_t u64(Cur* c) { uint64_t v; memcpy(&v, take(c, 8), 8); return v; }
static size_t scalar_size(uint32_t t) {
    static const size_t s[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (t > 12 || t == 8 || t == 9) die("bad value type", "metadata");
    return s[t];
}
static void skip_value(Cur* c, uint32_t t) {
    if (t == 8) { uint64_t n = u64(c); take(c, n); return; }
    if (t == 9) {
        uint32_t et = u32(c);
        uint64_t n = u64(c);
        for (uint64_t i = 0; i < n; ++i) skip_value(c, et);
        return;
    }
    take(c, scalar_size(t));
}

static uint64_t fnv(uint64_t h, const uint8_t* b, size_t n) {
    for (size_t j = 0; j < n; ++j) {
        h ^= b[j];
        h *= 0x100000001b3ull;
    }
    return h;
}

// The _ref encoder of type t over k elements.
static void ref_row(uint32_t t, const float* x, void* y, int64_t k) {
    switch (t) {
        case GGML_TYPE_F16:
            for (int64_t i = 0; i < k; ++i) ((ggml_fp16_t*)y)[i] = GGML_FP32_TO_FP16(x[i]);
            return;
        case GGML_TYPE_BF16:
            for (int64_t i = 0; i < k; ++i) ((ggml_bf16_t*)y)[i] = GGML_FP32_TO_BF16(x[i]);
            return;
        case GGML_TYPE_Q4_0: quantize_row_q4_0_ref(x, y, k); return;
        case GGML_TYPE_Q4_1: quantize_row_q4_1_ref(x, y, k); return;
        case GGML_TYPE_Q5_0: quantize_row_q5_0_ref(x, y, k); return;
        case GGML_TYPE_Q5_1: quantize_row_q5_1_ref(x, y, k); return;
        case GGML_TYPE_Q8_0: quantize_row_q8_0_ref(x, y, k); return;
        case GGML_TYPE_Q2_K: quantize_row_q2_K_ref(x, y, k); return;
        case GGML_TYPE_Q3_K: quantize_row_q3_K_ref(x, y, k); return;
        case GGML_TYPE_Q4_K: quantize_row_q4_K_ref(x, y, k); return;
        case GGML_TYPE_Q5_K: quantize_row_q5_K_ref(x, y, k); return;
        case GGML_TYPE_Q6_K: quantize_row_q6_K_ref(x, y, k); return;
        case GGML_TYPE_IQ4_NL: quantize_row_iq4_nl_ref(x, y, k); return;
        case GGML_TYPE_IQ4_XS: quantize_row_iq4_xs_ref(x, y, k); return;
        default: abort();
    }
}

// llama-quantize's chunk quantizer of type t (F16/BF16: none; the caller skips them).
static void chunk(uint32_t t, const float* x, void* y, int64_t nrow, int64_t n, const float* qw) {
    switch (t) {
        case GGML_TYPE_Q4_0: quantize_q4_0(x, y, nrow, n, qw); return;
        case GGML_TYPE_Q4_1: quantize_q4_1(x, y, nrow, n, qw); return;
        case GGML_TYPE_Q5_0: quantize_q5_0(x, y, nrow, n, qw); return;
        case GGML_TYPE_Q5_1: quantize_q5_1(x, y, nrow, n, qw); return;
        case GGML_TYPE_Q8_0: quantize_q8_0(x, y, nrow, n, qw); return;
        case GGML_TYPE_Q2_K: quantize_q2_K(x, y, nrow, n, qw); return;
        case GGML_TYPE_Q3_K: quantize_q3_K(x, y, nrow, n, qw); return;
        case GGML_TYPE_Q4_K: quantize_q4_K(x, y, nrow, n, qw); return;
        case GGML_TYPE_Q5_K: quantize_q5_K(x, y, nrow, n, qw); return;
        case GGML_TYPE_Q6_K: quantize_q6_K(x, y, nrow, n, qw); return;
        case GGML_TYPE_IQ4_NL: quantize_iq4_nl(x, y, nrow, n, qw); return;
        case GGML_TYPE_IQ4_XS: quantize_iq4_xs(x, y, nrow, n, qw); return;
        default: abort();
    }
}

static void process(const char* dir, const char* rel) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE* f = fopen(path, "rb");
    if (!f) die("cannot open", path);
    fseek(f, 0, SEEK_END);
    const long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t* buf = malloc((size_t)size);
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) die("cannot read", path);
    fclose(f);

    Cur c = {buf, (size_t)size, 0, path};
    if (memcmp(take(&c, 4), "GGUF", 4) != 0) die("not a GGUF file", path);
    const uint32_t version = u32(&c);
    if (version != 2 && version != 3) die("unsupported GGUF version", path);
    const uint64_t n_tensors = u64(&c), n_kv = u64(&c);
    uint64_t alignment = 32;
    for (uint64_t i = 0; i < n_kv; ++i) {
        const uint64_t klen = u64(&c);
        const char* key = (const char*)take(&c, klen);
        const uint32_t t = u32(&c);
        if (klen == 17 && memcmp(key, "general.alignment", 17) == 0 && t == 4) {
            alignment = u32(&c);
            continue;
        }
        skip_value(&c, t);
    }
    const char** names = calloc(n_tensors, sizeof(char*));
    int* name_len = calloc(n_tensors, sizeof(int));
    uint64_t *ne = calloc(n_tensors, 8), *row = calloc(n_tensors, 8), *off = calloc(n_tensors, 8);
    for (uint64_t i = 0; i < n_tensors; ++i) {
        const uint64_t nlen = u64(&c);
        names[i] = (const char*)take(&c, nlen);
        name_len[i] = (int)nlen;
        const uint32_t nd = u32(&c);
        ne[i] = 1;
        for (uint32_t d = 0; d < nd; ++d) {
            const uint64_t dim = u64(&c);
            if (d == 0) row[i] = dim;
            ne[i] *= dim;
        }
        if (u32(&c) != GGML_TYPE_F32) die("every tensor must be F32", path);
        off[i] = u64(&c);
    }
    const size_t data = (c.pos + alignment - 1) / alignment * alignment;
    for (uint64_t i = 0; i < n_tensors; ++i) {
        if (data + off[i] + ne[i] * 4 > (uint64_t)size) die("tensor data past end of file", path);
        float* x = malloc(ne[i] * 4);
        memcpy(x, buf + data + off[i], ne[i] * 4);  // aligned copy
        const int64_t n = (int64_t)row[i], nrow = (int64_t)(ne[i] / row[i]);
        float* qw = malloc((size_t)n * 4);
        for (int64_t j = 0; j < n; ++j) qw[j] = imp(j);
        for (size_t ti = 0; ti < N_TYPES; ++ti) {
            const TypeInfo* t = &kTypes[ti];
            if (n % t->qk) continue;
            const size_t bytes = (size_t)(ne[i] / (uint64_t)t->qk) * (size_t)t->bytes;
            uint8_t* y = calloc(bytes, 1);
            ref_row(t->type, x, y, (int64_t)ne[i]);
            printf("%s %.*s %s ref %llu %016llx\n", rel, name_len[i], names[i], t->name, (unsigned long long)ne[i],
                   (unsigned long long)fnv(0xcbf29ce484222325ull, y, bytes));
            if (t->qk > 1) {
                memset(y, 0, bytes);
                chunk(t->type, x, y, nrow, n, NULL);
                printf("%s %.*s %s chunk %llu %016llx\n", rel, name_len[i], names[i], t->name, (unsigned long long)ne[i],
                       (unsigned long long)fnv(0xcbf29ce484222325ull, y, bytes));
                memset(y, 0, bytes);
                chunk(t->type, x, y, nrow, n, qw);
                printf("%s %.*s %s imatrix %llu %016llx\n", rel, name_len[i], names[i], t->name,
                       (unsigned long long)ne[i], (unsigned long long)fnv(0xcbf29ce484222325ull, y, bytes));
            }
            free(y);
        }
        free(qw);
        free(x);
    }
    free(names); free(name_len); free(ne); free(row); free(off);
    free(buf);
}

int main(int argc, char** argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODELS_DIR REL_PATH...\n", argv[0]);
        return 2;
    }
    for (int i = 2; i < argc; ++i) process(argv[1], argv[i]);
    return 0;
}
