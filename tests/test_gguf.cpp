// GGUF reader/writer: round trips, corrupt files (never crash, always a named
// vkrt::Error), real llama.cpp files, synthetic llama models.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <set>

#include "core/quant.hpp"
#include "gguf/gguf.hpp"
#include "gguf/synthetic.hpp"
#include "test_util.hpp"

using namespace vkrt;
using namespace vkrt::gguf;

namespace {

std::string tmp_path(const std::string& name) {
    std::filesystem::create_directories(test::tmp_dir());
    return test::tmp_dir() + "/test_gguf_" + name;
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
    REQUIRE(f.good());
}

std::vector<uint8_t> read_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

// Opens `bytes` as a GGUF file; expects a vkrt::Error with `status` whose message contains `needle`.
void expect_error(const std::vector<uint8_t>& bytes, Status status, const std::string& needle) {
    const std::string p = tmp_path("bad.gguf");
    write_bytes(p, bytes);
    try {
        File f = File::open(p);
        FAIL("expected an error containing '", needle, "'");
    } catch (const Error& e) {
        CHECK_MESSAGE(e.status() == status, std::string(e.what()));
        CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos, "message: ", std::string(e.what()),
                      "\nexpected to contain: ", needle);
    }
}

// ---- a tiny GGUF assembler for hand-made (corrupt) files ----

struct Bytes {
    std::vector<uint8_t> b;
    template <typename T>
    Bytes& put(T v) {
        const size_t n = b.size();
        b.resize(n + sizeof v);
        std::memcpy(b.data() + n, &v, sizeof v);
        return *this;
    }
    Bytes& str(const std::string& s) {
        put<uint64_t>(s.size());
        b.insert(b.end(), s.begin(), s.end());
        return *this;
    }
    Bytes& pad(size_t a) {
        while (b.size() % a) b.push_back(0);
        return *this;
    }
};

struct TI {
    std::string name;
    std::vector<uint64_t> dims;
    uint32_t type;
    uint64_t offset;
};

using KVFn = std::function<void(Bytes&)>;

KVFn kv_u32(const std::string& k, uint32_t v) {
    return [=](Bytes& b) { b.str(k).put<uint32_t>(uint32_t(ValueType::UINT32)).put<uint32_t>(v); };
}
KVFn kv_str(const std::string& k, const std::string& v) {
    return [=](Bytes& b) { b.str(k).put<uint32_t>(uint32_t(ValueType::STRING)).str(v); };
}

std::vector<uint8_t> assemble(const std::vector<KVFn>& kvs, const std::vector<TI>& tis, uint64_t data_bytes,
                              uint32_t version = 3, size_t align = 32) {
    Bytes b;
    b.put<uint32_t>(0x46554747).put<uint32_t>(version).put<uint64_t>(tis.size()).put<uint64_t>(kvs.size());
    for (const auto& kv : kvs) kv(b);
    for (const TI& t : tis) {
        b.str(t.name).put<uint32_t>(uint32_t(t.dims.size()));
        for (uint64_t d : t.dims) b.put<uint64_t>(d);
        b.put<uint32_t>(t.type).put<uint64_t>(t.offset);
    }
    b.pad(align);
    b.b.resize(b.b.size() + data_bytes, 0xAB);
    return b.b;
}

// A valid small file: two tensors (F32 [8,2] at 0, Q8_0 [32] at 64).
std::vector<uint8_t> small_valid() {
    return assemble({kv_str("general.architecture", "llama"), kv_u32("llama.block_count", 1)},
                    {{"a", {8, 2}, 0, 0}, {"b", {32}, 8, 64}}, 64 + 34);
}

// A writer with every value type, nested arrays and all tensor types.
Writer full_writer() {
    Writer w;
    w.set_string("general.architecture", "llama");
    w.set_u32("u32", 4000000000u);
    w.set_i32("i32", -7);
    w.set_f32("f32", 0.25f);
    w.set_bool("bool", true);
    w.set_string("str", std::string("he\0llo \xE2\x96\x81", 10));
    w.set_string_array("strs", {"<unk>", "", "\xE2\x96\x81the", std::string(1000, 'x')});
    w.set_f32_array("f32s", {1.f, -2.5f, 1e-30f});
    w.set_i32_array("i32s", {1, -2, 2147483647});
    auto scalar = [](ValueType t, auto v) {
        Value x;
        x.type = t;
        x.v = v;
        return x;
    };
    w.copy_value("u8", scalar(ValueType::UINT8, uint64_t(200)));
    w.copy_value("i8", scalar(ValueType::INT8, int64_t(-100)));
    w.copy_value("u16", scalar(ValueType::UINT16, uint64_t(60000)));
    w.copy_value("i16", scalar(ValueType::INT16, int64_t(-30000)));
    w.copy_value("u64", scalar(ValueType::UINT64, uint64_t(1) << 60));
    w.copy_value("i64", scalar(ValueType::INT64, -(int64_t(1) << 60)));
    w.copy_value("f64", scalar(ValueType::FLOAT64, 3.141592653589793));
    // array of arrays of u8, and an empty array
    Value inner1 = scalar(ValueType::ARRAY, std::make_shared<Array>(Array{scalar(ValueType::UINT8, uint64_t(1))}));
    inner1.elem_type = ValueType::UINT8;
    Value inner2 = scalar(ValueType::ARRAY, std::make_shared<Array>());
    inner2.elem_type = ValueType::UINT8;
    Value outer = scalar(ValueType::ARRAY, std::make_shared<Array>(Array{inner1, inner2}));
    outer.elem_type = ValueType::ARRAY;
    w.copy_value("nested", outer);
    Value bools = scalar(ValueType::ARRAY, std::make_shared<Array>(Array{scalar(ValueType::BOOL, true),
                                                                          scalar(ValueType::BOOL, false)}));
    bools.elem_type = ValueType::BOOL;
    w.copy_value("bools", bools);

    auto bytes = [](size_t n, uint8_t seed) {
        std::vector<uint8_t> v(n);
        for (size_t i = 0; i < n; ++i) v[i] = uint8_t(seed + i * 7);
        return v;
    };
    w.add_tensor("t.f32", TensorType::F32, {3, 2}, bytes(24, 1));
    w.add_tensor("t.f16", TensorType::F16, {5}, bytes(10, 2));
    w.add_tensor("t.q4_0", TensorType::Q4_0, {64, 3}, bytes(6 * 18, 3));
    w.add_tensor("t.q8_0", TensorType::Q8_0, {32, 1, 2, 1}, bytes(2 * 34, 4));
    w.add_tensor("t.i8", TensorType::I8, {7}, bytes(7, 5));
    w.add_tensor("t.i32", TensorType::I32, {1}, bytes(4, 6));
    return w;
}

}  // namespace

// ---------------------------------------------------------------- round trips

TEST_CASE("gguf: writer -> reader round trip (all value types, all tensor types)") {
    Writer w = full_writer();
    for (uint32_t align : {32u, 64u, 1u, 4096u}) {
        CAPTURE(align);
        const std::string p = tmp_path("roundtrip.gguf");
        w.write(p, align);
        File f = File::open(p);
        CHECK(f.version() == 3);
        CHECK(f.get_string("general.architecture", "") == "llama");
        CHECK(f.get_int("u32", 0) == 4000000000ll);
        CHECK(f.get_int("i32", 0) == -7);
        CHECK(f.get_float("f32", 0) == 0.25);
        CHECK(f.find("bool")->as_bool("bool") == true);
        CHECK(f.get_string("str", "") == std::string("he\0llo \xE2\x96\x81", 10));
        CHECK(f.get_string_array("strs") ==
              std::vector<std::string>{"<unk>", "", "\xE2\x96\x81the", std::string(1000, 'x')});
        CHECK(f.get_float_array("f32s") == std::vector<float>{1.f, -2.5f, 1e-30f});
        CHECK(f.get_int_array("i32s") == std::vector<int64_t>{1, -2, 2147483647});
        CHECK(f.get_int("u8", 0) == 200);
        CHECK(f.get_int("i8", 0) == -100);
        CHECK(f.get_int("u16", 0) == 60000);
        CHECK(f.get_int("i16", 0) == -30000);
        CHECK(f.get_int("u64", 0) == (int64_t(1) << 60));
        CHECK(f.get_int("i64", 0) == -(int64_t(1) << 60));
        CHECK(f.get_float("f64", 0) == 3.141592653589793);
        CHECK(f.find("u8")->type == ValueType::UINT8);
        CHECK(f.find("i16")->type == ValueType::INT16);
        CHECK(f.find("f64")->type == ValueType::FLOAT64);
        const Array& nested = f.find("nested")->as_array("nested");
        REQUIRE(nested.size() == 2);
        CHECK(f.find("nested")->elem_type == ValueType::ARRAY);
        CHECK(nested[0].elem_type == ValueType::UINT8);
        CHECK(nested[0].as_array("n0").size() == 1);
        CHECK(nested[0].as_array("n0")[0].as_int("n00") == 1);
        CHECK(nested[1].as_array("n1").empty());
        CHECK(f.find("bools")->as_array("b")[1].as_bool("b1") == false);
        CHECK(f.get_int("general.alignment", 32) == align);  // written only when not the default 32
        CHECK(f.get_int("absent", 42) == 42);
        CHECK(f.find("absent") == nullptr);
        CHECK(f.get_string_array("absent").empty());
        // wrong types are named errors
        CHECK_THROWS_AS(f.get_int("str", 0), Error);
        CHECK_THROWS_AS(f.get_string("u32", ""), Error);
        CHECK_THROWS_AS(f.get_string_array("f32s"), Error);

        // tensors: same order, bytes, dims; data aligned in the file
        REQUIRE(f.tensors().size() == 6);
        const uint8_t* base = f.tensors()[0].data - f.tensors()[0].offset;
        Writer ref = full_writer();
        const std::vector<std::string> names = {"t.f32", "t.f16", "t.q4_0", "t.q8_0", "t.i8", "t.i32"};
        for (size_t i = 0; i < names.size(); ++i) {
            const TensorInfo& t = f.tensors()[i];
            CHECK(t.name == names[i]);
            CHECK(&f.tensor(names[i]) == &t);
            CHECK((t.data - base) % align == 0);
            CHECK(t.offset % align == 0);
        }
        const TensorInfo& q4 = f.tensor("t.q4_0");
        CHECK(q4.type == TensorType::Q4_0);
        CHECK(q4.dims == std::vector<uint64_t>{64, 3});
        CHECK(q4.n_elements == 192);
        CHECK(q4.n_bytes == 108);
        CHECK(q4.data[0] == 3);
        CHECK(q4.data[107] == uint8_t(3 + 107 * 7));
        CHECK(f.tensor("t.q8_0").dims == std::vector<uint64_t>{32, 1, 2, 1});
        CHECK(f.tensor("t.i32").n_bytes == 4);
        CHECK(f.find_tensor("nope") == nullptr);
        CHECK_THROWS_WITH_AS(f.tensor("nope"), doctest::Contains("'nope' not found"), Error);
    }
}

TEST_CASE("gguf: re-writing a file with copy_value reproduces it byte for byte") {
    const std::string p1 = tmp_path("rw1.gguf"), p2 = tmp_path("rw2.gguf");
    full_writer().write(p1);
    File f = File::open(p1);
    Writer w;
    for (const auto& [k, v] : f.metadata()) w.copy_value(k, v);
    for (const TensorInfo& t : f.tensors())
        w.add_tensor(t.name, t.type, t.dims, std::vector<uint8_t>(t.data, t.data + t.n_bytes));
    w.write(p2);
    File g = File::open(p2);
    CHECK(g.metadata().size() == f.metadata().size());
    CHECK(g.file_size() == f.file_size());
    // metadata order differs (map order) but every tensor byte matches
    for (const TensorInfo& t : f.tensors()) CHECK(std::memcmp(g.tensor(t.name).data, t.data, t.n_bytes) == 0);
}

TEST_CASE("gguf: streamed tensors equal in-memory tensors") {
    std::vector<uint8_t> data(34 * 2 * 300);
    for (size_t i = 0; i < data.size(); ++i) data[i] = uint8_t(i * 31 + 7);
    Writer a, b;
    a.add_tensor("x", TensorType::Q8_0, {64, 300}, data);
    b.add_tensor_rows("x", TensorType::Q8_0, {64, 300}, [&](uint64_t r0, uint64_t n, uint8_t* out) {
        std::memcpy(out, data.data() + r0 * 68, n * 68);
    });
    a.write(tmp_path("sa.gguf"));
    b.write(tmp_path("sb.gguf"));
    CHECK(read_bytes(tmp_path("sa.gguf")) == read_bytes(tmp_path("sb.gguf")));
}

TEST_CASE("gguf: writer rejects bad tensors and keys") {
    Writer w;
    CHECK_THROWS_AS(w.add_tensor("x", TensorType::Q4_0, {33}, std::vector<uint8_t>(18)), Error);
    CHECK_THROWS_AS(w.add_tensor("x", TensorType::F32, {4}, std::vector<uint8_t>(15)), Error);
    CHECK_THROWS_AS(w.add_tensor("x", TensorType::F32, {1, 1, 1, 1, 1}, std::vector<uint8_t>(4)), Error);
    CHECK_THROWS_AS(w.add_tensor("x", TensorType::F32, {0}, {}), Error);
    CHECK_THROWS_AS(w.add_tensor("", TensorType::F32, {1}, std::vector<uint8_t>(4)), Error);
    w.add_tensor("x", TensorType::F32, {1}, std::vector<uint8_t>(4));
    CHECK_THROWS_WITH_AS(w.add_tensor("x", TensorType::F32, {1}, std::vector<uint8_t>(4)),
                         doctest::Contains("duplicate"), Error);
    CHECK_THROWS_AS(w.set_u32("", 1), Error);
    CHECK_THROWS_AS(w.write(tmp_path("x.gguf"), 3), Error);
    CHECK_THROWS_AS(w.write("/nonexistent-dir/x.gguf"), Error);
    // a failing fill leaves no file behind
    Writer s;
    s.add_tensor_rows("y", TensorType::F32, {4}, [](uint64_t, uint64_t, uint8_t*) {
        fail(Status::internal, "fill failed");
    });
    std::filesystem::remove(tmp_path("y.gguf"));
    CHECK_THROWS_WITH_AS(s.write(tmp_path("y.gguf")), doctest::Contains("fill failed"), Error);
    CHECK(!std::filesystem::exists(tmp_path("y.gguf")));
    CHECK(!std::filesystem::exists(tmp_path("y.gguf.part")));
    // set_* replaces an existing key
    Writer r;
    r.set_u32("k", 1);
    r.set_u32("k", 2);
    r.write(tmp_path("r.gguf"));
    File f = File::open(tmp_path("r.gguf"));
    CHECK(f.get_int("k", 0) == 2);
    CHECK(f.metadata().size() == 1);  // k (general.alignment 32 is the default: not written)
}

// ---------------------------------------------------------------- corrupt files

TEST_CASE("gguf: the hand-made small file is valid") {
    write_bytes(tmp_path("small.gguf"), small_valid());
    File f = File::open(tmp_path("small.gguf"));
    CHECK(f.tensors().size() == 2);
    CHECK(f.tensor("b").type == TensorType::Q8_0);
    CHECK(f.tensor("b").offset == 64);
}

TEST_CASE("gguf: every truncation of a file throws vkrt::Error (never crashes)") {
    for (bool hand_made : {true, false}) {
        std::vector<uint8_t> full;
        if (hand_made) {
            full = small_valid();
        } else {
            full_writer().write(tmp_path("full.gguf"));
            full = read_bytes(tmp_path("full.gguf"));
        }
        // the file stays valid while it holds every tensor byte (only trailing padding is cut)
        write_bytes(tmp_path("full.gguf"), full);
        uint64_t valid_from = 0;  // data section start + end of the last tensor's bytes
        {
            File f = File::open(tmp_path("full.gguf"));
            for (const TensorInfo& t : f.tensors())
                valid_from = std::max(valid_from, f.data_offset() + t.offset + t.n_bytes);
            CHECK(f.tensors()[0].data - f.tensors()[0].offset != nullptr);
        }
        CAPTURE(hand_made);
        CAPTURE(full.size());
        int errors = 0;
        for (size_t n = 0; n < full.size(); ++n) {
            write_bytes(tmp_path("cut.gguf"), std::vector<uint8_t>(full.begin(), full.begin() + long(n)));
            bool threw = false;
            try {
                File f = File::open(tmp_path("cut.gguf"));
            } catch (const Error& e) {
                threw = true;
                if (e.status() != Status::bad_format) {
                    CAPTURE(n);
                    FAIL_CHECK("unexpected status: ", e.what());
                }
            }
            if (threw != (n < valid_from)) {
                CAPTURE(n);
                CAPTURE(valid_from);
                FAIL_CHECK("truncation at ", n, (threw ? " threw" : " did not throw"));
            }
            errors += threw;
        }
        CHECK(errors == int(valid_from));
    }
}

TEST_CASE("gguf: random byte corruption never crashes") {
    full_writer().write(tmp_path("fz.gguf"));
    const std::vector<uint8_t> full = read_bytes(tmp_path("fz.gguf"));
    std::mt19937 rng(1234);
    // corrupt the header/metadata/tensor-info part (where parsing happens)
    const size_t head = std::min<size_t>(full.size(), 1600);
    int ok = 0, bad = 0;
    for (int it = 0; it < 1500; ++it) {
        std::vector<uint8_t> b = full;
        const int flips = 1 + int(rng() % 4);
        for (int k = 0; k < flips; ++k) {
            const size_t i = rng() % head;
            switch (rng() % 3) {
                case 0: b[i] ^= uint8_t(1u << (rng() % 8)); break;
                case 1: b[i] = uint8_t(rng()); break;
                default: b[i] = 0xFF; break;
            }
        }
        write_bytes(tmp_path("fz_cut.gguf"), b);
        try {
            File f = File::open(tmp_path("fz_cut.gguf"));
            ++ok;
        } catch (const Error&) {
            ++bad;
        }
    }
    MESSAGE("corrupted files: ", ok, " still parse, ", bad, " rejected");
    CHECK(bad > 0);
}

TEST_CASE("gguf: header problems") {
    auto good = small_valid();
    SUBCASE("empty file") { expect_error({}, Status::bad_format, "too small"); }
    SUBCASE("wrong magic") {
        auto b = good;
        b[0] = 'X';
        expect_error(b, Status::bad_format, "bad magic");
    }
    SUBCASE("v1") { expect_error(assemble({}, {}, 0, 1), Status::unsupported, "version 1"); }
    SUBCASE("v4") { expect_error(assemble({}, {}, 0, 4), Status::unsupported, "unsupported version 4"); }
    SUBCASE("big-endian v3") {
        expect_error(assemble({}, {}, 0, 0x03000000), Status::unsupported, "big-endian");
    }
    SUBCASE("v2 is fine") {
        write_bytes(tmp_path("v2.gguf"), assemble({kv_u32("a", 1)}, {{"t", {4}, 0, 0}}, 16, 2));
        CHECK(File::open(tmp_path("v2.gguf")).version() == 2);
    }
    SUBCASE("absurd tensor count") {
        auto b = good;
        const uint64_t n = uint64_t(1) << 60;
        std::memcpy(&b[8], &n, 8);
        expect_error(b, Status::bad_format, "tensor count 1152921504606846976 is impossible");
    }
    SUBCASE("absurd kv count") {
        auto b = good;
        const uint64_t n = ~uint64_t(0);
        std::memcpy(&b[16], &n, 8);
        expect_error(b, Status::bad_format, "metadata count");
    }
    SUBCASE("not a file") {
        try {
            File::open(test::tmp_dir());
            FAIL("opened a directory");
        } catch (const Error& e) {
            CHECK(e.status() == Status::io_error);
        }
        try {
            File::open(tmp_path("does-not-exist.gguf"));
            FAIL("opened a missing file");
        } catch (const Error& e) {
            CHECK(e.status() == Status::io_error);
            CHECK(std::string(e.what()).find("does-not-exist") != std::string::npos);
        }
    }
}

TEST_CASE("gguf: metadata problems") {
    SUBCASE("string length past EOF") {
        Bytes b;
        b.put<uint32_t>(0x46554747).put<uint32_t>(3).put<uint64_t>(0).put<uint64_t>(1);
        b.str("general.name").put<uint32_t>(uint32_t(ValueType::STRING)).put<uint64_t>(1000).put<uint32_t>(0);
        expect_error(b.b, Status::bad_format, "string value of key 'general.name' at offset 48 has length 1000 which runs past end of file");
    }
    SUBCASE("key length past EOF") {
        Bytes b;
        b.put<uint32_t>(0x46554747).put<uint32_t>(3).put<uint64_t>(0).put<uint64_t>(1);
        b.put<uint64_t>(~uint64_t(0) - 3).put<uint32_t>(0).put<uint32_t>(0).put<uint32_t>(0).put<uint32_t>(0);
        expect_error(b.b, Status::bad_format, "key of metadata entry 0 at offset 24 has length");
    }
    SUBCASE("array count past EOF") {
        Bytes b;
        b.put<uint32_t>(0x46554747).put<uint32_t>(3).put<uint64_t>(0).put<uint64_t>(1);
        b.str("tokenizer.ggml.scores").put<uint32_t>(uint32_t(ValueType::ARRAY));
        b.put<uint32_t>(uint32_t(ValueType::FLOAT32)).put<uint64_t>(uint64_t(1) << 62).put<float>(1.f);
        expect_error(b.b, Status::bad_format, "'tokenizer.ggml.scores': array at offset");
    }
    SUBCASE("array of strings count past EOF") {
        Bytes b;
        b.put<uint32_t>(0x46554747).put<uint32_t>(3).put<uint64_t>(0).put<uint64_t>(1);
        b.str("tok").put<uint32_t>(uint32_t(ValueType::ARRAY)).put<uint32_t>(uint32_t(ValueType::STRING));
        b.put<uint64_t>(3).str(std::string(16, 'a')).str(std::string(16, 'b'));
        expect_error(b.b, Status::bad_format, "truncated file");
    }
    SUBCASE("arrays nested too deep") {
        Bytes b;
        b.put<uint32_t>(0x46554747).put<uint32_t>(3).put<uint64_t>(0).put<uint64_t>(1);
        b.str("deep").put<uint32_t>(uint32_t(ValueType::ARRAY));
        for (int i = 0; i < 100; ++i) b.put<uint32_t>(uint32_t(ValueType::ARRAY)).put<uint64_t>(1);
        b.put<uint32_t>(uint32_t(ValueType::UINT8)).put<uint64_t>(0);
        expect_error(b.b, Status::bad_format, "nested deeper");
    }
    SUBCASE("invalid value type") {
        Bytes b;
        b.put<uint32_t>(0x46554747).put<uint32_t>(3).put<uint64_t>(0).put<uint64_t>(1);
        b.str("k").put<uint32_t>(13).put<uint64_t>(0);
        expect_error(b.b, Status::bad_format, "key 'k' has invalid value type 13");
    }
    SUBCASE("invalid bool") {
        Bytes b;
        b.put<uint32_t>(0x46554747).put<uint32_t>(3).put<uint64_t>(0).put<uint64_t>(1);
        b.str("k").put<uint32_t>(uint32_t(ValueType::BOOL)).put<uint8_t>(2).put<uint64_t>(0);
        expect_error(b.b, Status::bad_format, "invalid value 2");
    }
    SUBCASE("duplicate key") {
        expect_error(assemble({kv_u32("a.b", 1), kv_u32("a.b", 2)}, {}, 0), Status::bad_format,
                     "duplicate metadata key 'a.b'");
    }
    SUBCASE("empty key") {
        expect_error(assemble({kv_u32("", 1)}, {}, 0), Status::bad_format, "empty key");
    }
    SUBCASE("alignment not a power of two") {
        expect_error(assemble({kv_u32("general.alignment", 48)}, {}, 0), Status::bad_format,
                     "general.alignment 48 is not a power of two");
        expect_error(assemble({kv_u32("general.alignment", 0)}, {}, 0), Status::bad_format,
                     "general.alignment 0");
    }
    SUBCASE("alignment of wrong type") {
        expect_error(assemble({kv_str("general.alignment", "32")}, {}, 0), Status::bad_format,
                     "general.alignment' has type STRING");
    }
}

TEST_CASE("gguf: tensor info problems") {
    const auto kvs = std::vector<KVFn>{kv_str("general.architecture", "llama")};
    SUBCASE("offset out of range") {
        expect_error(assemble(kvs, {{"blk.0.attn_q.weight", {64, 2}, 8, 96}}, 100), Status::bad_format,
                     "tensor 'blk.0.attn_q.weight' [64, 2] Q8_0 data [offset 96, 136 bytes] runs past end of file");
    }
    SUBCASE("offset overflow") {
        expect_error(assemble(kvs, {{"t", {4}, 0, ~uint64_t(0) - 31}}, 100), Status::bad_format,
                     "runs past end of file");
    }
    SUBCASE("misaligned offset") {
        expect_error(assemble(kvs, {{"t", {4}, 0, 0}, {"u", {4}, 0, 16}}, 64), Status::bad_format,
                     "tensor 'u' data offset 16 is not a multiple of the alignment 32");
    }
    SUBCASE("custom alignment honoured") {
        auto b = assemble({kv_u32("general.alignment", 16)}, {{"t", {4}, 0, 0}, {"u", {4}, 0, 16}}, 32, 3, 16);
        write_bytes(tmp_path("al16.gguf"), b);
        File f = File::open(tmp_path("al16.gguf"));
        CHECK(f.tensor("u").offset == 16);
    }
    SUBCASE("unknown or retired type id: the data cannot be placed") {
        expect_error(assemble(kvs, {{"blk.3.ffn_up.weight", {32}, 99, 0}}, 64), Status::bad_format,
                     "tensor 'blk.3.ffn_up.weight' has type id 99, an unknown or retired ggml type");
        expect_error(assemble(kvs, {{"x", {32}, 4, 0}}, 64), Status::bad_format,  // Q4_2, removed from ggml
                     "tensor 'x' has type id 4, an unknown or retired ggml type");
    }
    SUBCASE("a row that does not fit the type's blocks") {
        expect_error(assemble(kvs, {{"x", {300}, 14, 0}}, 256), Status::bad_format,
                     "tensor 'x' of type Q6_K has row length 300, not a multiple of the block size 256");
    }
    SUBCASE("every known ggml type is kept and sized by the registry, runnable or not") {
        // Q6_K, BF16, Q4_1, IQ2_XXS (no vkrt kernels), Q8_K (no kernels), I16: listed with
        // their ggml names and sizes; whether they run is decided where a weight is bound.
        struct Case { uint32_t id; uint64_t n; const char* name; uint64_t bytes; };
        const Case cases[] = {{14, 512, "Q6_K", 420}, {30, 8, "BF16", 16}, {3, 64, "Q4_1", 40},
                              {16, 256, "IQ2_XXS", 66}, {15, 256, "Q8_K", 292}, {25, 3, "I16", 6}};
        std::vector<TI> tis;
        uint64_t off = 0;
        for (const Case& c : cases) {
            tis.push_back({std::string("t") + c.name, {c.n}, c.id, off});
            off += (c.bytes + 31) / 32 * 32;
        }
        write_bytes(tmp_path("alltypes.gguf"), assemble(kvs, tis, off));
        File f = File::open(tmp_path("alltypes.gguf"));
        REQUIRE(f.tensors().size() == std::size(cases));
        for (const Case& c : cases) {
            const TensorInfo& t = f.tensor(std::string("t") + c.name);
            CAPTURE(c.name);
            CHECK(uint32_t(t.type) == c.id);
            CHECK(std::string(fmt::name(t.type)) == c.name);
            CHECK(t.n_bytes == c.bytes);
        }
    }
    SUBCASE("duplicate tensor names") {
        expect_error(assemble(kvs, {{"t", {4}, 0, 0}, {"t", {4}, 0, 32}}, 64), Status::bad_format,
                     "duplicate tensor name 't'");
    }
    SUBCASE("empty tensor name") {
        expect_error(assemble(kvs, {{"", {4}, 0, 0}}, 64), Status::bad_format, "empty name");
    }
    SUBCASE("too many dims") {
        expect_error(assemble(kvs, {{"t", {1, 1, 1, 1, 1}, 0, 0}}, 64), Status::bad_format,
                     "tensor 't' has 5 dimensions");
        expect_error(assemble(kvs, {{"t", {}, 0, 0}}, 64), Status::bad_format, "tensor 't' has 0 dimensions");
    }
    SUBCASE("zero dim") {
        expect_error(assemble(kvs, {{"t", {4, 0}, 0, 0}}, 64), Status::bad_format, "zero dimension 1");
    }
    SUBCASE("element count overflow") {
        expect_error(assemble(kvs, {{"t", {uint64_t(1) << 32, uint64_t(1) << 32}, 0, 0}}, 64), Status::bad_format,
                     "element count overflows");
    }
    SUBCASE("byte size overflow (F32 of 2^62 elements)") {
        expect_error(assemble(kvs, {{"t", {uint64_t(1) << 31, uint64_t(1) << 31}, 0, 0}}, 64), Status::bad_format,
                     "'t'");
    }
    SUBCASE("row length not a multiple of the block") {
        expect_error(assemble(kvs, {{"t", {48, 2}, 2, 0}}, 64), Status::bad_format,
                     "tensor 't' of type Q4_0 has row length 48, not a multiple of the block size 32");
    }
    SUBCASE("data section start past EOF") {
        auto b = assemble(kvs, {{"t", {4}, 0, 0}}, 0);
        b.erase(b.end() - 4, b.end());  // cut into the padding before the data section
        expect_error(b, Status::bad_format, "past end of file");
    }
}

// ---------------------------------------------------------------- real files

TEST_CASE("gguf: stories260K.gguf (F32, llama.cpp layout)") {
    File f = File::open(test::models_dir() + "/stories260K.gguf");
    CHECK(f.version() == 3);
    CHECK(f.get_string("general.architecture", "") == "llama");
    CHECK(f.get_int("llama.block_count", 0) == 5);
    CHECK(f.get_int("llama.embedding_length", 0) == 64);
    CHECK(f.get_int("llama.feed_forward_length", 0) == 172);
    CHECK(f.get_int("llama.attention.head_count", 0) == 8);
    CHECK(f.get_int("llama.attention.head_count_kv", 0) == 4);
    CHECK(f.get_int("llama.rope.dimension_count", 0) == 8);
    CHECK(f.get_float("llama.attention.layer_norm_rms_epsilon", 0) == doctest::Approx(1e-5));
    CHECK(f.get_string("tokenizer.ggml.model", "") == "llama");
    const auto tokens = f.get_string_array("tokenizer.ggml.tokens");
    REQUIRE(tokens.size() == 512);
    CHECK(tokens[0] == "<unk>");
    CHECK(tokens[1] == "<s>");
    CHECK(tokens[2] == "</s>");
    CHECK(tokens[3] == "<0x00>");
    CHECK(f.get_float_array("tokenizer.ggml.scores").size() == 512);
    CHECK(f.get_int_array("tokenizer.ggml.token_type").size() == 512);
    CHECK(f.get_int("tokenizer.ggml.bos_token_id", -1) == 1);
    CHECK(f.get_int("tokenizer.ggml.eos_token_id", -1) == 2);

    CHECK(f.tensors().size() == 2 + 5 * 9 + 1 - 1 + 1);  // token_embd, output_norm, output, 9 per layer
    const TensorInfo& emb = f.tensor("token_embd.weight");
    CHECK(emb.type == TensorType::F32);
    CHECK(emb.dims == std::vector<uint64_t>{64, 512});
    for (int l = 0; l < 5; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        CHECK(f.tensor(p + "attn_norm.weight").dims == std::vector<uint64_t>{64});
        CHECK(f.tensor(p + "attn_q.weight").dims == std::vector<uint64_t>{64, 64});
        CHECK(f.tensor(p + "attn_k.weight").dims == std::vector<uint64_t>{64, 32});
        CHECK(f.tensor(p + "attn_v.weight").dims == std::vector<uint64_t>{64, 32});
        CHECK(f.tensor(p + "attn_output.weight").dims == std::vector<uint64_t>{64, 64});
        CHECK(f.tensor(p + "ffn_norm.weight").dims == std::vector<uint64_t>{64});
        CHECK(f.tensor(p + "ffn_gate.weight").dims == std::vector<uint64_t>{64, 172});
        CHECK(f.tensor(p + "ffn_up.weight").dims == std::vector<uint64_t>{64, 172});
        CHECK(f.tensor(p + "ffn_down.weight").dims == std::vector<uint64_t>{172, 64});
    }
    CHECK(f.tensor("output_norm.weight").dims == std::vector<uint64_t>{64});
    CHECK(f.tensor("output.weight").dims == std::vector<uint64_t>{64, 512});
    // the norm weights hold plausible numbers
    const auto norm = dequantize_tensor(f.tensor("blk.0.attn_norm.weight"));
    for (float x : norm) CHECK((std::isfinite(x) && std::fabs(x) < 100.f));
}

TEST_CASE("gguf: llama.cpp's stories260K q8_0 / q4_0 files parse with the expected types") {
    File f32 = File::open(test::models_dir() + "/stories260K.gguf");
    for (const char* name : {"q8_0", "q4_0"}) {
        CAPTURE(name);
        File f = File::open(test::models_dir() + "/llama.cpp/stories260K-" + name + ".gguf");
        const TensorType w = std::string(name) == "q8_0" ? TensorType::Q8_0 : TensorType::Q4_0;
        CHECK(f.tensors().size() == f32.tensors().size());
        CHECK(f.get_int("llama.block_count", 0) == 5);
        CHECK(f.get_int("general.file_type", -1) == (w == TensorType::Q8_0 ? 7 : 2));
        CHECK(f.tensor("blk.0.attn_q.weight").type == w);
        CHECK(f.tensor("blk.0.ffn_gate.weight").type == w);
        CHECK(f.tensor("blk.0.ffn_down.weight").type == TensorType::F16);  // rows of 172
        CHECK(f.tensor("blk.0.attn_norm.weight").type == TensorType::F32);
        CHECK(f.tensor("output.weight").type == TensorType::Q8_0);
        for (const TensorInfo& t : f.tensors()) CHECK(f32.tensor(t.name).dims == t.dims);
    }
}

// ---------------------------------------------------------------- synthetic models

TEST_CASE("gguf: synthetic tiny llama has llama.cpp's keys and tensors") {
    for (TensorType wt : {TensorType::F32, TensorType::F16, TensorType::Q4_0, TensorType::Q8_0}) {
        for (bool tie : {false, true}) {
            CAPTURE(fmt::name(wt));
            CAPTURE(tie);
            SyntheticLlama c = preset("tiny", wt);
            c.tie_output = tie;
            c.seed = 7;
            const std::string p = tmp_path("tiny.gguf");
            write_synthetic_llama(c, p);
            File f = File::open(p);
            CHECK(f.get_string("general.architecture", "") == "llama");
            CHECK(f.get_int("llama.block_count", 0) == 2);
            CHECK(f.get_int("llama.context_length", 0) == 2048);
            CHECK(f.get_int("llama.embedding_length", 0) == 64);
            CHECK(f.get_int("llama.feed_forward_length", 0) == 96);
            CHECK(f.get_int("llama.attention.head_count", 0) == 4);
            CHECK(f.get_int("llama.attention.head_count_kv", 0) == 2);
            CHECK(f.get_float("llama.rope.freq_base", 0) == 10000.0);
            CHECK(f.get_float("llama.attention.layer_norm_rms_epsilon", 0) == doctest::Approx(1e-5));
            CHECK(f.get_int("llama.rope.dimension_count", 0) == 16);
            CHECK(f.get_int("llama.vocab_size", 0) == 300);
            CHECK(f.get_string("tokenizer.ggml.model", "") == "llama");
            CHECK(f.get_int("tokenizer.ggml.bos_token_id", -1) == 1);
            CHECK(f.get_int("tokenizer.ggml.eos_token_id", -1) == 2);
            CHECK(f.get_int("tokenizer.ggml.unknown_token_id", -1) == 0);
            const auto tok = f.get_string_array("tokenizer.ggml.tokens");
            const auto types = f.get_int_array("tokenizer.ggml.token_type");
            REQUIRE(tok.size() == 300);
            REQUIRE(types.size() == 300);
            CHECK(f.get_float_array("tokenizer.ggml.scores").size() == 300);
            CHECK(tok[0] == "<unk>");
            CHECK(tok[1] == "<s>");
            CHECK(tok[2] == "</s>");
            CHECK(tok[3] == "<0x00>");
            CHECK(tok[258] == "<0xFF>");
            CHECK(tok[259] == "\xE2\x96\x81" "a");
            CHECK(tok[260] == "a");
            CHECK(types[0] == 2);
            CHECK(types[1] == 3);
            CHECK(types[100] == 6);
            CHECK(types[259] == 1);
            CHECK(std::set<std::string>(tok.begin(), tok.end()).size() == 300);

            CHECK(f.tensors().size() == size_t(1 + 2 * 9 + 1 + (tie ? 0 : 1)));
            CHECK((f.find_tensor("output.weight") == nullptr) == tie);
            CHECK(f.tensor("token_embd.weight").dims == std::vector<uint64_t>{64, 300});
            CHECK(f.tensor("token_embd.weight").type == wt);
            CHECK(f.tensor("blk.1.attn_k.weight").dims == std::vector<uint64_t>{64, 32});
            CHECK(f.tensor("blk.1.ffn_down.weight").dims == std::vector<uint64_t>{96, 64});
            CHECK(f.tensor("blk.1.ffn_norm.weight").type == TensorType::F32);
            // values: weights small, norms near 1; bytes equal quantize(synthetic_row)
            const auto q = dequantize_tensor(f.tensor("blk.0.attn_q.weight"));
            for (float x : q) CHECK((std::fabs(x) <= 0.036f));
            const auto n = dequantize_tensor(f.tensor("blk.0.ffn_norm.weight"));
            for (float x : n) CHECK((x >= 0.9f && x <= 1.1f));
            const TensorInfo& up = f.tensor("blk.1.ffn_up.weight");
            const uint64_t rb = fmt::row_bytes(wt, 64);
            std::vector<float> row(64);
            std::vector<uint8_t> bytes(rb);
            for (uint64_t r = 0; r < 96; r += 19) {
                synthetic_row(c, up.name, r, row.data(), 64);
                fmt::quantize_row(wt, row.data(), bytes.data(), 64);
                CHECK(std::memcmp(bytes.data(), up.data + r * rb, rb) == 0);
            }
        }
    }
}

TEST_CASE("gguf: synthetic rows generated on several threads match synthetic_row") {
    SyntheticLlama c = preset("tiny", TensorType::Q4_0);
    c.n_layer = 1, c.n_embd = 256, c.n_head = 8, c.n_head_kv = 8, c.n_ff = 512, c.n_vocab = 4000;
    write_synthetic_llama(c, tmp_path("mt.gguf"));
    File f = File::open(tmp_path("mt.gguf"));
    const TensorInfo& emb = f.tensor("token_embd.weight");  // 1M elements: split over threads
    const uint64_t rb = fmt::row_bytes(TensorType::Q4_0, 256);
    std::vector<float> row(256);
    std::vector<uint8_t> bytes(rb);
    for (uint64_t r : {0ull, 1ull, 1999ull, 2000ull, 2001ull, 3999ull}) {
        CAPTURE(r);
        synthetic_row(c, emb.name, r, row.data(), 256);
        quantize_row_q4_0(row.data(), bytes.data(), 256);
        CHECK(std::memcmp(bytes.data(), emb.data + r * rb, rb) == 0);
    }
}

TEST_CASE("gguf: synthetic models are deterministic in the seed") {
    SyntheticLlama c = preset("tiny", TensorType::Q8_0);
    write_synthetic_llama(c, tmp_path("d1.gguf"));
    write_synthetic_llama(c, tmp_path("d2.gguf"));
    c.seed = 2;
    write_synthetic_llama(c, tmp_path("d3.gguf"));
    CHECK(read_bytes(tmp_path("d1.gguf")) == read_bytes(tmp_path("d2.gguf")));
    CHECK(read_bytes(tmp_path("d1.gguf")) != read_bytes(tmp_path("d3.gguf")));
}

TEST_CASE("gguf: synthetic presets and bad shapes") {
    SyntheticLlama b = preset("1B", TensorType::Q4_0);
    CHECK(b.n_layer == 16);
    CHECK(b.n_embd == 2048);
    CHECK(b.n_head == 32);
    CHECK(b.n_head_kv == 8);
    CHECK(b.n_ff == 8192);
    CHECK(b.n_vocab == 32000);
    SyntheticLlama s = preset("7B", TensorType::Q8_0);
    CHECK(s.n_layer == 32);
    CHECK(s.n_embd == 4096);
    CHECK(s.n_head_kv == 32);
    CHECK(s.n_ff == 11008);
    CHECK(s.wtype == TensorType::Q8_0);
    CHECK_THROWS_WITH_AS(preset("13B", TensorType::F32), doctest::Contains("unknown preset '13B'"), Error);

    SyntheticLlama c = preset("tiny", TensorType::Q4_0);
    c.n_ff = 100;
    CHECK_THROWS_WITH_AS(write_synthetic_llama(c, tmp_path("bad.gguf")),
                         doctest::Contains("n_ff = 100 is not a multiple of Q4_0's block size 32"), Error);
    c.n_ff = 96;
    c.n_embd = 48, c.n_head = 4, c.n_head_kv = 2;
    CHECK_THROWS_WITH_AS(write_synthetic_llama(c, tmp_path("bad.gguf")),
                         doctest::Contains("n_embd = 48 is not a multiple of Q4_0's block size 32"), Error);
    c.wtype = TensorType::F16;  // any row length is fine for F16
    write_synthetic_llama(c, tmp_path("f16_48.gguf"));
    CHECK(File::open(tmp_path("f16_48.gguf")).tensor("blk.0.attn_q.weight").dims == std::vector<uint64_t>{48, 48});
    c = preset("tiny", TensorType::I8);  // W8A8: I8 linears + F32 .scale, Q8_0 embeddings
    write_synthetic_llama(c, tmp_path("w8a8.gguf"));
    {
        File w8 = File::open(tmp_path("w8a8.gguf"));
        CHECK(w8.tensor("blk.0.attn_q.weight").type == TensorType::I8);
        CHECK(w8.tensor("blk.0.attn_q.scale").dims == std::vector<uint64_t>{64});
        CHECK(w8.tensor("token_embd.weight").type == TensorType::Q8_0);
        CHECK(w8.get_string("vkrt.quantization.scheme", "") == "w8a8");
    }
    c = preset("tiny", TensorType::I32);
    CHECK_THROWS_AS(write_synthetic_llama(c, tmp_path("bad.gguf")), Error);
    c = preset("tiny", TensorType::F32);
    c.n_vocab = 100;
    CHECK_THROWS_WITH_AS(write_synthetic_llama(c, tmp_path("bad.gguf")), doctest::Contains("n_vocab"), Error);
    c = preset("tiny", TensorType::F32);
    c.n_head_kv = 3;
    CHECK_THROWS_AS(write_synthetic_llama(c, tmp_path("bad.gguf")), Error);
}

