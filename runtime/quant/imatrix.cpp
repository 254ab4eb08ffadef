#include "quant/imatrix.hpp"

#include <cstring>

#include "core/error.hpp"
#include "gguf/gguf.hpp"
#include "io/safe_write.hpp"

namespace vkrt::quant {

namespace {

const char* const kSum2 = ".in_sum2";
const char* const kCounts = ".counts";
const char* const kXxt = ".in_xxt";

bool ends_with(const std::string& s, const std::string& suf) {
    return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

std::string read_all(const std::string& path) {
    FILE* f = std::fopen(path.c_str(), "rb");
    VKRT_CHECK(f, Status::io_error, "imatrix '", path, "': cannot open");
    std::string s;
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
    std::fclose(f);
    return s;
}

// Legacy .dat: a bounds-checked little reader.
Imatrix read_dat(const std::string& path, const std::string& b) {
    size_t pos = 0;
    auto take = [&](size_t n) -> const char* {
        VKRT_CHECK(n <= b.size() - pos, Status::invalid_argument, "imatrix '", path, "' is truncated at byte ", pos,
                   " (legacy .dat format)");
        const char* p = b.data() + pos;
        pos += n;
        return p;
    };
    auto i32 = [&]() {
        int32_t v;
        std::memcpy(&v, take(4), 4);
        return v;
    };
    Imatrix m;
    const int32_t n = i32();
    VKRT_CHECK(n > 0 && n < (1 << 20), Status::invalid_argument, "imatrix '", path,
               "' is neither GGUF nor a legacy .dat file (entry count ", n, ")");
    for (int32_t e = 0; e < n; ++e) {
        const int32_t len = i32();
        VKRT_CHECK(len > 0 && len < 4096, Status::invalid_argument, "imatrix '", path, "': bad name length ", len);
        std::string name(take(size_t(len)), size_t(len));
        const int32_t ncall = i32();
        const int32_t nval = i32();
        VKRT_CHECK(nval > 0 && ncall >= 0, Status::invalid_argument, "imatrix '", path, "': entry '", name,
                   "' has ", nval, " values");
        ImatrixEntry& en = m.entries[name];
        en.sum2.resize(size_t(nval));
        std::memcpy(en.sum2.data(), take(size_t(nval) * 4), size_t(nval) * 4);
        // value = mean * ncall: store it as a sum over ncall "tokens" so importance() = mean.
        en.count = float(ncall);
        if (ncall == 0) en.count = 1;  // llama.cpp uses the values as they are
    }
    if (b.size() - pos >= 4) {
        m.chunk_count = uint32_t(i32());
        if (b.size() - pos >= 4) {
            const int32_t len = i32();
            if (len > 0 && size_t(len) <= b.size() - pos) m.datasets.emplace_back(take(size_t(len)), size_t(len));
        }
    }
    return m;
}

Imatrix read_gguf(const std::string& path) {
    gguf::File f = gguf::File::open(path);  // validates: a truncated file is an error naming it
    Imatrix m;
    const std::string type = f.get_string("general.type", "");
    VKRT_CHECK(type == "imatrix", Status::invalid_argument, "'", path, "' is a GGUF file but not an imatrix (general.type '",
               type, "')");
    m.datasets = f.get_string_array("imatrix.datasets");
    m.chunk_count = uint32_t(f.get_int("imatrix.chunk_count", 0));
    m.chunk_size = uint32_t(f.get_int("imatrix.chunk_size", 0));
    for (const gguf::TensorInfo& t : f.tensors()) {
        if (!ends_with(t.name, kSum2)) continue;
        const std::string name = t.name.substr(0, t.name.size() - std::strlen(kSum2));
        const gguf::TensorInfo* c = f.find_tensor(name + kCounts);
        VKRT_CHECK(c, Status::invalid_argument, "imatrix '", path, "': '", t.name, "' has no '", name, kCounts, "'");
        VKRT_CHECK(t.type == Format::F32 && c->type == Format::F32, Status::invalid_argument, "imatrix '", path,
                   "': '", name, "' is not F32");
        const uint64_t n_mat = t.dims.size() > 1 ? t.dims[1] : 1;
        VKRT_CHECK(n_mat == 1 && c->n_elements == 1, Status::unsupported, "imatrix '", path, "': '", name, "' has ",
                   n_mat, " matrices (experts); vkrt quantizes dense models");
        ImatrixEntry& e = m.entries[name];
        e.sum2.resize(size_t(t.n_elements));
        std::memcpy(e.sum2.data(), t.data, e.sum2.size() * 4);
        std::memcpy(&e.count, c->data, 4);
        if (const gguf::TensorInfo* x = f.find_tensor(name + kXxt)) {
            VKRT_CHECK(x->type == Format::F32 && x->n_elements == t.n_elements * t.n_elements, Status::invalid_argument,
                       "imatrix '", path, "': '", x->name, "' is not F32 (", t.n_elements, ", ", t.n_elements, ")");
            e.xxt.resize(size_t(x->n_elements));
            std::memcpy(e.xxt.data(), x->data, e.xxt.size() * 4);
        }
    }
    VKRT_CHECK(!m.entries.empty(), Status::invalid_argument, "imatrix '", path, "' holds no entries");
    return m;
}

}  // namespace

std::vector<float> ImatrixEntry::importance() const {
    std::vector<float> v(sum2.size(), 1.0f);
    if (count > 0)
        for (size_t i = 0; i < v.size(); ++i) v[i] = sum2[i] / count;
    return v;
}

Imatrix read_imatrix(const std::string& path) {
    const std::string b = read_all(path);
    VKRT_CHECK(b.size() >= 4, Status::invalid_argument, "imatrix '", path, "' is truncated (", b.size(), " bytes)");
    if (std::memcmp(b.data(), "GGUF", 4) == 0) return read_gguf(path);
    return read_dat(path, b);
}

void write_imatrix(const std::string& path, const Imatrix& m) {
    gguf::Writer w;
    w.set_string("general.type", "imatrix");
    w.set_string_array("imatrix.datasets", m.datasets);
    w.set_u32("imatrix.chunk_count", m.chunk_count);
    w.set_u32("imatrix.chunk_size", m.chunk_size);
    for (const auto& [name, e] : m.entries) {  // std::map: sorted names, as llama-imatrix writes them
        std::vector<uint8_t> s(e.sum2.size() * 4), c(4);
        std::memcpy(s.data(), e.sum2.data(), s.size());
        std::memcpy(c.data(), &e.count, 4);
        w.add_tensor(name + kSum2, Format::F32, {e.sum2.size(), 1}, std::move(s));
        w.add_tensor(name + kCounts, Format::F32, {1, 1}, std::move(c));
        if (!e.xxt.empty()) {
            VKRT_CHECK(e.xxt.size() == e.sum2.size() * e.sum2.size(), Status::invalid_argument, "imatrix entry '", name,
                       "': x x^T of ", e.xxt.size(), " values for ", e.sum2.size(), " columns");
            std::vector<uint8_t> x(e.xxt.size() * 4);
            std::memcpy(x.data(), e.xxt.data(), x.size());
            w.add_tensor(name + kXxt, Format::F32, {e.sum2.size(), e.sum2.size()}, std::move(x));
        }
    }
    w.write(path);
}

}  // namespace vkrt::quant
