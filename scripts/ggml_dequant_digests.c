// ggml's own decoders over every tensor of some GGUF files: one line per tensor with the
// FNV-1a 64 digest of the float32 output, for tests/test_formats.cpp (vkrt's reference
// decoders must reproduce every line). Built and run by scripts/ggml_dequant_digests.sh
// against a llama.cpp checkout; links only ggml's ggml-quants.c (no vkrt code, and its
// own minimal GGUF parser, so a vkrt reader bug cannot hide here).
//
// usage: ggml_dequant_digests MODELS_DIR REL_PATH...
// output: REL_PATH TENSOR TYPE N_ELEMENTS DIGEST(16 hex digits)
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml-impl.h"
#include "ggml-quants.h"

// ggml-quants.c calls these only from its quantizers / validators, which this harness never runs.
void ggml_abort(const char* file, int line, const char* fmt, ...) {
    fprintf(stderr, "ggml_abort at %s:%d (%s)\n", file, line, fmt);
    abort();
}
size_t ggml_row_size(enum ggml_type type, int64_t ne) { (void)type; (void)ne; abort(); }
const char* ggml_type_name(enum ggml_type type) { (void)type; abort(); }
size_t ggml_type_size(enum ggml_type type) { (void)type; abort(); }

static void die(const char* what, const char* path) {
    fprintf(stderr, "ggml_dequant_digests: %s: %s\n", path, what);
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
    static const size_t s[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};  // GGUF value types 0..12
    if (t > 12 || t == 8 || t == 9) die("bad value type", "metadata");
    return s[t];
}

// Skips one metadata value; returns general.alignment if that is the key and a u32.
static void skip_value(Cur* c, uint32_t t) {
    if (t == 8) { uint64_t n = u64(c); take(c, n); return; }           // string
    if (t == 9) {                                                       // array
        uint32_t et = u32(c);
        uint64_t n = u64(c);
        for (uint64_t i = 0; i < n; ++i) skip_value(c, et);
        return;
    }
    take(c, scalar_size(t));
}

typedef struct {
    const char* name;
    int name_len;
    uint32_t type;
    uint64_t ne, offset, row;
} Tensor;

// The types these files hold: ggml's name and block elements / bytes (ggml-common.h).
typedef struct {
    uint32_t type;
    const char* name;
    int qk, bytes;
} TypeInfo;
static const TypeInfo kTypes[] = {
    {GGML_TYPE_F32, "F32", 1, 4},
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

static const TypeInfo* type_info(uint32_t t) {
    for (size_t i = 0; i < sizeof kTypes / sizeof kTypes[0]; ++i)
        if (kTypes[i].type == t) return &kTypes[i];
    return NULL;
}

// One row of k elements through ggml's decoder for type t.
static void dequant_row(uint32_t t, const void* src, float* y, int64_t k) {
    switch (t) {
        case GGML_TYPE_F32: memcpy(y, src, (size_t)k * 4); return;
        case GGML_TYPE_F16:
            for (int64_t i = 0; i < k; ++i) y[i] = GGML_FP16_TO_FP32(((const ggml_fp16_t*)src)[i]);
            return;
        case GGML_TYPE_BF16:
            for (int64_t i = 0; i < k; ++i) y[i] = GGML_BF16_TO_FP32(((const ggml_bf16_t*)src)[i]);
            return;
        case GGML_TYPE_Q4_0: dequantize_row_q4_0(src, y, k); return;
        case GGML_TYPE_Q4_1: dequantize_row_q4_1(src, y, k); return;
        case GGML_TYPE_Q5_0: dequantize_row_q5_0(src, y, k); return;
        case GGML_TYPE_Q5_1: dequantize_row_q5_1(src, y, k); return;
        case GGML_TYPE_Q8_0: dequantize_row_q8_0(src, y, k); return;
        case GGML_TYPE_Q2_K: dequantize_row_q2_K(src, y, k); return;
        case GGML_TYPE_Q3_K: dequantize_row_q3_K(src, y, k); return;
        case GGML_TYPE_Q4_K: dequantize_row_q4_K(src, y, k); return;
        case GGML_TYPE_Q5_K: dequantize_row_q5_K(src, y, k); return;
        case GGML_TYPE_Q6_K: dequantize_row_q6_K(src, y, k); return;
        case GGML_TYPE_IQ4_NL: dequantize_row_iq4_nl(src, y, k); return;
        case GGML_TYPE_IQ4_XS: dequantize_row_iq4_xs(src, y, k); return;
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
    Tensor* ts = calloc(n_tensors, sizeof(Tensor));
    for (uint64_t i = 0; i < n_tensors; ++i) {
        const uint64_t nlen = u64(&c);
        ts[i].name = (const char*)take(&c, nlen);
        ts[i].name_len = (int)nlen;
        const uint32_t nd = u32(&c);
        ts[i].ne = 1;
        for (uint32_t d = 0; d < nd; ++d) {
            const uint64_t dim = u64(&c);
            if (d == 0) ts[i].row = dim;
            ts[i].ne *= dim;
        }
        ts[i].type = u32(&c);
        ts[i].offset = u64(&c);
    }
    const size_t data = (c.pos + alignment - 1) / alignment * alignment;
    for (uint64_t i = 0; i < n_tensors; ++i) {
        const Tensor* t = &ts[i];
        const TypeInfo* ti = type_info(t->type);
        if (!ti) die("tensor type not handled by this harness", path);
        if (t->row % (uint64_t)ti->qk) die("row not a multiple of the block", path);
        const uint64_t rows = t->ne / t->row, rb = t->row / (uint64_t)ti->qk * (uint64_t)ti->bytes;
        if (data + t->offset + rows * rb > (uint64_t)size) die("tensor data past end of file", path);
        float* y = malloc((size_t)t->row * sizeof(float));
        uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64 over the float32 bytes, row after row
        for (uint64_t r = 0; r < rows; ++r) {
            dequant_row(t->type, buf + data + t->offset + r * rb, y, (int64_t)t->row);
            const uint8_t* b = (const uint8_t*)y;
            for (size_t j = 0; j < (size_t)t->row * sizeof(float); ++j) {
                h ^= b[j];
                h *= 0x100000001b3ull;
            }
        }
        free(y);
        printf("%s %.*s %s %llu %016llx\n", rel, t->name_len, t->name, ti->name,
               (unsigned long long)t->ne, (unsigned long long)h);
    }
    free(ts);
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
