// Resource bombs: what a file claims is checked against what it holds before
// anything is allocated, 64-bit values are range-checked (never truncated),
// overlapping tensor data is refused, and the model's and session's device
// memory is checked against the heap before allocating (error naming both).
#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "gguf/gguf.hpp"
#include "gguf/synthetic.hpp"
#include "gpu.hpp"
#include "model/model.hpp"
#include "model/perplexity.hpp"
#include "test_util.hpp"
#include "vkrt/vkrt.h"

using namespace vkrt;

namespace {

std::string stories() { return test::models_dir() + "/stories260K.gguf"; }
std::string tmp(const std::string& name) {
    std::filesystem::create_directories(test::tmp_dir());
    return test::tmp_dir() + "/test_limits_" + name;
}

gguf::Value u64(uint64_t v) {
    gguf::Value x;
    x.type = gguf::ValueType::UINT64;
    x.v = v;
    return x;
}

// stories260K with metadata `key` replaced by `value` (tensors unchanged).
std::string patched(const std::string& name, const std::string& key, const gguf::Value& value) {
    gguf::File f = gguf::File::open(stories());
    gguf::Writer w;
    for (const auto& [k, v] : f.metadata())
        if (k != "general.alignment") w.copy_value(k, k == key ? value : v);
    for (const auto& t : f.tensors()) w.add_tensor(t.name, t.type, t.dims, std::vector<uint8_t>(t.data, t.data + t.n_bytes));
    const std::string path = tmp(name);
    w.write(path, f.alignment());
    return path;
}

void expect_load_error(Device& dev, const std::string& path, Status status, const std::string& needle) {
    try {
        model::Model m(dev, path);
        FAIL("expected an error containing '", needle, "'");
    } catch (const Error& e) {
        CHECK_MESSAGE(e.status() == status, e.what());
        CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos, "message: ", e.what(),
                      "\nexpected: ", needle);
    }
}

// Byte offset of the u64 field `field` (0 = first dim, ...) after tensor `name`'s name string.
uint64_t tensor_info_pos(const std::vector<char>& bytes, const std::string& name) {
    std::string pat(8, '\0');
    const uint64_t n = name.size();
    std::memcpy(pat.data(), &n, 8);
    pat += name;
    const size_t at = std::string_view(bytes.data(), bytes.size()).find(pat);
    REQUIRE(at != std::string_view::npos);
    return at + pat.size();  // -> u32 n_dims
}

}  // namespace

TEST_CASE("limits: a huge block_count is refused before anything is allocated for it") {
    Device& dev = test::gpu();
    for (uint32_t n : {1u << 20, 1u << 24}) {
        const std::string p = patched("blocks.gguf", "llama.block_count", u64(n));
        const auto t0 = std::chrono::steady_clock::now();
        // The architecture description's range check (arch::HParams::validate) names it.
        expect_load_error(dev, p, Status::bad_format, "a dimension is out of range (" + std::to_string(n) + " layers");
        // Refused up front (it used to allocate 7 GB of layer structs first).
        CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
        std::filesystem::remove(p);
    }
    CHECK_NO_VALIDATION(dev);
}

TEST_CASE("limits: 64-bit hyper-parameters are range-checked, never truncated") {
    Device& dev = test::gpu();
    struct Case {
        const char* key;
        uint64_t value;
        const char* needle;
    } cases[] = {
        {"llama.context_length", (uint64_t(1) << 32) + 8, "llama.context_length = 4294967304 is out of range"},
        {"llama.context_length", 0, "context_length must be > 0"},
        {"llama.attention.head_count_kv", (uint64_t(1) << 32) + 1, "head_count_kv = 4294967297 is out of range"},
        {"llama.rope.dimension_count", (uint64_t(1) << 32) + 2, "rope.dimension_count = 4294967298 is out of range"},
        {"llama.embedding_length", (uint64_t(1) << 32) + 64, "embedding_length is out of range"},
    };
    for (const Case& c : cases) {
        INFO(c.key, " = ", c.value);
        const std::string p = patched("hparam.gguf", c.key, u64(c.value));
        expect_load_error(dev, p, Status::bad_format, c.needle);
        std::filesystem::remove(p);
    }
    CHECK_NO_VALIDATION(dev);
}

TEST_CASE("limits: overlapping tensor data is a named error") {
    gguf::Writer w;
    w.set_string("general.architecture", "llama");
    std::vector<uint8_t> a(64 * 4, 1), b(64 * 4, 2);
    w.add_tensor("first.weight", gguf::TensorType::F32, {64}, a);
    w.add_tensor("second.weight", gguf::TensorType::F32, {64}, b);
    const std::string p = tmp("overlap.gguf");
    w.write(p);
    REQUIRE_NOTHROW(gguf::File::open(p));
    std::vector<char> bytes;
    {
        std::ifstream in(p, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    // second.weight: n_dims u32 | dims[1] u64 | type u32 | offset u64 -> offset 128 (inside first's 256 bytes)
    const uint64_t off_pos = tensor_info_pos(bytes, "second.weight") + 4 + 8 + 4;
    const uint64_t inside = 128;
    std::memcpy(bytes.data() + off_pos, &inside, 8);
    {
        std::ofstream out(p, std::ios::binary | std::ios::trunc);
        out.write(bytes.data(), std::streamsize(bytes.size()));
    }
    CHECK_THROWS_WITH_AS(gguf::File::open(p),
                         doctest::Contains("tensor 'second.weight' data [offset 128, 256 bytes] overlaps tensor 'first.weight'"),
                         Error);
    // Two tensors at the same offset.
    const uint64_t zero = 0;
    std::memcpy(bytes.data() + off_pos, &zero, 8);
    {
        std::ofstream out(p, std::ios::binary | std::ios::trunc);
        out.write(bytes.data(), std::streamsize(bytes.size()));
    }
    CHECK_THROWS_WITH_AS(gguf::File::open(p), doctest::Contains("overlaps"), Error);
    std::filesystem::remove(p);
}

TEST_CASE("limits: model and session memory are checked against the heap, naming both") {
    DeviceOptions o = DeviceOptions::from_env();
    o.pipeline_cache = "off";
    const uint64_t model_bytes = [] {
        gguf::File f = gguf::File::open(stories());
        uint64_t n = 0;
        for (const auto& t : f.tensors()) n += (t.n_bytes + 3) & ~uint64_t(3);
        return n;
    }();
    {
        o.memory_limit = model_bytes / 2;  // the weights do not fit
        Device dev(o);
        expect_load_error(dev, stories(), Status::out_of_memory,
                          "model '" + stories() + "' needs " + std::to_string(model_bytes) + " bytes");
        try {
            model::Model m(dev, stories());
        } catch (const Error& e) {
            CHECK(std::string(e.what()).find("of device memory, but heap ") != std::string::npos);
            CHECK(std::string(e.what()).find("(VKRT_MEMORY_LIMIT)") != std::string::npos);
        }
        CHECK(dev.validation_messages() == 0);
    }
    {
        o.memory_limit = model_bytes + (256 << 10);  // the weights fit, a long context does not
        Device dev(o);
        model::Model m(dev, stories());
        CHECK_THROWS_WITH_AS(model::Session(m, 4096, 64), doctest::Contains("session (n_ctx 4096, n_batch 64)"), Error);
        model::Session small(m, 8, 8);  // a short one does
        std::vector<int32_t> ids = {1, 2, 3};
        small.eval(ids);
        CHECK(small.pos() == 3);
        CHECK(dev.validation_messages() == 0);
    }
}

TEST_CASE("limits: a model larger than the real heap is refused before allocating (sparse file)") {
    Device& dev = test::gpu();
    const Device::HeapInfo heap = dev.device_heap();
    INFO("heap ", heap.index, ": ", heap.size, " bytes, ", heap.available, " available");
    // stories260K plus one F32 tensor {64, rows} whose data would not fit the heap. The
    // data lies in a hole of a sparse file: nothing of it is ever written or read.
    gguf::File f = gguf::File::open(stories());
    gguf::Writer w;
    for (const auto& [k, v] : f.metadata())
        if (k != "general.alignment") w.copy_value(k, v);
    for (const auto& t : f.tensors()) w.add_tensor(t.name, t.type, t.dims, std::vector<uint8_t>(t.data, t.data + t.n_bytes));
    w.add_tensor("zz_padding.weight", gguf::TensorType::F32, {64, 1}, std::vector<uint8_t>(256, 0));
    const std::string p = tmp("larger_than_heap.gguf");
    w.write(p, 32);
    const uint64_t rows = heap.available / 256 + 1;
    {
        std::vector<char> bytes;
        std::ifstream in(p, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
        const uint64_t dim1 = tensor_info_pos(bytes, "zz_padding.weight") + 4 + 8;  // after n_dims, dims[0]
        std::memcpy(bytes.data() + dim1, &rows, 8);
        std::ofstream out(p, std::ios::binary | std::ios::trunc);
        out.write(bytes.data(), std::streamsize(bytes.size()));
    }
    const uint64_t size = std::filesystem::file_size(p) + rows * 256;
    REQUIRE(::truncate(p.c_str(), off_t(size)) == 0);
    expect_load_error(dev, p, Status::out_of_memory, "model '" + p + "' needs ");
    try {
        model::Model m(dev, p);
    } catch (const Error& e) {
        CHECK(std::string(e.what()).find("heap " + std::to_string(heap.index) + " of " + dev.caps().name) !=
              std::string::npos);
    }
    std::filesystem::remove(p);
    CHECK_NO_VALIDATION(dev);
}

TEST_CASE("limits: the C API refuses a session whose KV cache cannot fit") {
    vkrt_context* ctx = nullptr;
    REQUIRE(vkrt_context_create(nullptr, &ctx) == VKRT_OK);
    vkrt_model* model = nullptr;
    REQUIRE(vkrt_model_load(ctx, stories().c_str(), nullptr, &model) == VKRT_OK);
    vkrt_session_params sp = vkrt_session_default_params();
    sp.n_ctx = INT32_MAX;
    vkrt_session* s = nullptr;
    CHECK(vkrt_session_create(model, &sp, &s) == VKRT_ERROR_OUT_OF_MEMORY);
    CHECK(s == nullptr);
    CHECK(std::string(vkrt_last_error()).find("session (n_ctx 2147483647") != std::string::npos);
    CHECK(vkrt_context_validation_messages(ctx) == 0);
    vkrt_model_free(model);
    vkrt_context_free(ctx);
}

// Issue 8: a batch's logits (n_batch x n_vocab floats: Qwen's 151936 x a 512-token
// perplexity batch = 311 MB, Gemma 3's 262144 x 512 = 512 MiB) can exceed a device's
// storage-buffer binding limit (maxStorageBufferRange: 128 MiB on Adreno, Mali, lavapipe).
// The session runs the output head over chunks of rows whose logits fit one binding; the
// logits (prefill, replayed decode, perplexity) equal those of the same model on a device
// that binds the whole batch at once. Below one row of logits the session is refused by name.
TEST_CASE("limits: logits above the binding limit run the output head over row chunks, with the same results") {
    Device& dev = test::gpu();
    gguf::SyntheticLlama c;
    c.arch = "qwen2";
    c.n_layer = 2, c.n_embd = 64, c.n_head = 4, c.n_head_kv = 2, c.n_ff = 96, c.n_vocab = 3000;  // rows of 12000 bytes
    c.seed = 31;
    const std::string path = tmp("logits_chunks.gguf");
    gguf::write_synthetic_llama(c, path);
    DeviceOptions o = DeviceOptions::from_env();
    if (o.pipeline_cache.empty()) o.pipeline_cache = "off";
    o.max_binding_bytes = 40000;  // 3 rows of logits a binding
    Device small(o);
    REQUIRE(small.caps().max_binding_bytes == 40000);
    {
        model::Model whole(dev, path), split(small, path);
        model::Session a(whole, 64, 32), b(split, 64, 32);
        CHECK(a.head_rows() == 32);  // 32 x 12000 bytes: one binding on the real device
        CHECK(b.head_rows() == 3);
        CHECK(uint64_t(b.head_rows()) * c.n_vocab * 4 <= small.caps().max_binding_bytes);
        // The GPU logits buffer holds one chunk: 29 rows of logits less.
        CHECK(a.memory().activations - b.memory().activations == uint64_t(32 - 3) * c.n_vocab * 4);
        // 20 tokens: 7 chunks, the last of 2 rows.
        const std::vector<int32_t> prompt = {1,   2999, 5,  17, 1500, 42, 7,  8,   260, 31,
                                             3,   4,    77, 78, 79,   120, 5, 2000, 6,   9};
        const std::vector<float> la = a.eval(prompt, true);
        CHECK(la.size() == prompt.size() * c.n_vocab);
        CHECK(la == b.eval(prompt, true));
        int32_t next = 11;
        for (int step = 0; step < 3; ++step) {
            CAPTURE(step);
            const std::vector<float> da = a.eval(std::span<const int32_t>(&next, 1));
            CHECK(da == b.eval(std::span<const int32_t>(&next, 1)));
            next = int32_t(std::max_element(da.begin(), da.end()) - da.begin());
        }
        // Perplexity scores every row of a 32-token batch (11 chunks on the small device).
        const std::string text = "Once upon a time, there was a little girl named Lily. She loved to play outside "
                                 "in the park with her friends and her big red ball.";
        const PerplexityResult pa = perplexity(whole, text, 32, 2), pb = perplexity(split, text, 32, 2);
        CHECK(pa.chunks == 2);
        CHECK(pa.ppl == pb.ppl);
    }
    // A limit below one row of logits: the error names the buffer, its row size and the limit.
    o.max_binding_bytes = 8192;
    Device tiny(o);
    {
        model::Model m(tiny, path);
        CHECK_THROWS_WITH_AS(model::Session(m, 64, 32),
                             doctest::Contains("logits: one row of 3000 floats (12000 bytes) is larger than the "
                                               "storage-buffer binding limit (8192 bytes)"),
                             vkrt::Error);
    }
    std::filesystem::remove(path);
    CHECK_NO_VALIDATION(small);
    CHECK_NO_VALIDATION(tiny);
    CHECK_NO_VALIDATION(dev);
}

