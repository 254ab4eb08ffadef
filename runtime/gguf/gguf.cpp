// GGUF v2/v3 reader (mmap, every byte untrusted) and v3 writer.
//
// File layout (little-endian):
//   magic "GGUF" | u32 version | u64 n_tensors | u64 n_kv
//   n_kv x      { string key | u32 value_type | value }
//   n_tensors x { string name | u32 n_dims | u64 dims[n_dims] | u32 ggml_type | u64 offset }
//   padding to general.alignment (default 32)
//   data section: tensor bytes at their offsets (each offset aligned)
// string = u64 length + bytes (no NUL); array = u32 elem_type | u64 count | elements.
#include "gguf/gguf.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <new>
#include <unordered_map>
#include <unordered_set>

#include "core/format.hpp"
#include "io/safe_write.hpp"

static_assert(std::endian::native == std::endian::little, "vkrt's GGUF code assumes a little-endian host");

namespace vkrt::gguf {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr uint32_t kDefaultAlignment = 32;
constexpr uint32_t kMaxAlignment = 1u << 20;
constexpr int kMaxArrayDepth = 8;
constexpr uint32_t kMaxDims = 4;

const char* value_type_name(ValueType t) {
    switch (t) {
        case ValueType::UINT8: return "UINT8";
        case ValueType::INT8: return "INT8";
        case ValueType::UINT16: return "UINT16";
        case ValueType::INT16: return "INT16";
        case ValueType::UINT32: return "UINT32";
        case ValueType::INT32: return "INT32";
        case ValueType::FLOAT32: return "FLOAT32";
        case ValueType::BOOL: return "BOOL";
        case ValueType::STRING: return "STRING";
        case ValueType::ARRAY: return "ARRAY";
        case ValueType::UINT64: return "UINT64";
        case ValueType::INT64: return "INT64";
        case ValueType::FLOAT64: return "FLOAT64";
    }
    return "unknown";
}

// Fixed encoded size of a scalar value type, 0 for STRING/ARRAY/unknown.
uint64_t scalar_size(ValueType t) {
    switch (t) {
        case ValueType::UINT8: case ValueType::INT8: case ValueType::BOOL: return 1;
        case ValueType::UINT16: case ValueType::INT16: return 2;
        case ValueType::UINT32: case ValueType::INT32: case ValueType::FLOAT32: return 4;
        case ValueType::UINT64: case ValueType::INT64: case ValueType::FLOAT64: return 8;
        default: return 0;
    }
}

// Smallest possible encoding of one value of type t (to cap array counts).
uint64_t min_encoded_size(ValueType t) {
    if (t == ValueType::STRING) return 8;       // u64 length
    if (t == ValueType::ARRAY) return 4 + 8;    // elem type + count
    return scalar_size(t);
}

bool valid_value_type(uint32_t t) { return t <= uint32_t(ValueType::FLOAT64); }

bool is_pow2(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

// a + b, failing on overflow.
uint64_t add_checked(uint64_t a, uint64_t b, const std::string& what) {
    VKRT_CHECK(a <= std::numeric_limits<uint64_t>::max() - b, Status::bad_format,
               "gguf: ", what, ": size overflow (", a, " + ", b, ")");
    return a + b;
}

// a rounded up to a multiple of align (power of two), failing on overflow.
uint64_t align_up(uint64_t a, uint64_t align, const std::string& what) {
    return add_checked(a, align - 1, what) & ~(align - 1);
}

// ---- checked cursor over the mapped bytes ----

struct Cursor {
    const uint8_t* base;
    uint64_t size;
    uint64_t pos = 0;

    uint64_t remaining() const { return size - pos; }

    void need(uint64_t n, const char* what, const std::string& ctx) const {
        if (n > remaining())
            fail(Status::bad_format, "gguf: truncated file: ", what, ctx.empty() ? "" : " of ", ctx,
                 " at offset ", pos, " needs ", n, " bytes but only ", remaining(),
                 " remain (file size ", size, ")");
    }
    template <typename T>
    T read(const char* what, const std::string& ctx = {}) {
        need(sizeof(T), what, ctx);
        T v;
        std::memcpy(&v, base + pos, sizeof(T));
        pos += sizeof(T);
        return v;
    }
    std::string read_string(const char* what, const std::string& ctx = {}) {
        const uint64_t start = pos;
        const uint64_t n = read<uint64_t>(what, ctx);
        if (n > remaining())
            fail(Status::bad_format, "gguf: ", what, ctx.empty() ? "" : " of ", ctx, " at offset ", start,
                 " has length ", n, " which runs past end of file (", remaining(), " bytes remain, file size ",
                 size, ")");
        std::string s(reinterpret_cast<const char*>(base + pos), size_t(n));
        pos += n;
        return s;
    }
};

// ---- metadata values ----

Value read_value(Cursor& c, ValueType type, const std::string& key, int depth);

Value read_array(Cursor& c, const std::string& key, int depth) {
    VKRT_CHECK(depth < kMaxArrayDepth, Status::bad_format, "gguf: key '", key, "': arrays nested deeper than ",
               kMaxArrayDepth, " levels at offset ", c.pos);
    const uint64_t at = c.pos;
    const uint32_t et = c.read<uint32_t>("array element type", "key '" + key + "'");
    VKRT_CHECK(valid_value_type(et), Status::bad_format, "gguf: key '", key, "': array at offset ", at,
               " has invalid element type ", et);
    const uint64_t count = c.read<uint64_t>("array length", "key '" + key + "'");
    const ValueType elem = ValueType(et);
    const uint64_t min_size = min_encoded_size(elem);
    VKRT_CHECK(count <= c.remaining() / min_size, Status::bad_format, "gguf: key '", key, "': array at offset ",
               at, " claims ", count, " elements of type ", value_type_name(elem), " but only ", c.remaining(),
               " bytes remain (file size ", c.size, ")");
    auto arr = std::make_shared<Array>();
    arr->reserve(size_t(count));
    for (uint64_t i = 0; i < count; ++i) arr->push_back(read_value(c, elem, key, depth + 1));
    Value v;
    v.type = ValueType::ARRAY;
    v.elem_type = elem;
    v.v = std::move(arr);
    return v;
}

Value read_value(Cursor& c, ValueType type, const std::string& key, int depth) {
    Value v;
    v.type = type;
    const char* what = "value";
    switch (type) {
        case ValueType::UINT8: v.v = uint64_t(c.read<uint8_t>(what, key)); break;
        case ValueType::UINT16: v.v = uint64_t(c.read<uint16_t>(what, key)); break;
        case ValueType::UINT32: v.v = uint64_t(c.read<uint32_t>(what, key)); break;
        case ValueType::UINT64: v.v = c.read<uint64_t>(what, key); break;
        case ValueType::INT8: v.v = int64_t(c.read<int8_t>(what, key)); break;
        case ValueType::INT16: v.v = int64_t(c.read<int16_t>(what, key)); break;
        case ValueType::INT32: v.v = int64_t(c.read<int32_t>(what, key)); break;
        case ValueType::INT64: v.v = c.read<int64_t>(what, key); break;
        case ValueType::FLOAT32: v.v = double(c.read<float>(what, key)); break;
        case ValueType::FLOAT64: v.v = c.read<double>(what, key); break;
        case ValueType::BOOL: {
            const uint64_t at = c.pos;
            const uint8_t b = c.read<uint8_t>(what, key);
            VKRT_CHECK(b <= 1, Status::bad_format, "gguf: key '", key, "': bool at offset ", at,
                       " has invalid value ", int(b));
            v.v = b != 0;
            break;
        }
        case ValueType::STRING: v.v = c.read_string("string value", "key '" + key + "'"); break;
        case ValueType::ARRAY: return read_array(c, key, depth);
        default: fail(Status::bad_format, "gguf: key '", key, "' has invalid value type ", uint32_t(type));
    }
    return v;
}

// Bytes for n elements (n a multiple of the block size); fails on overflow.
uint64_t checked_bytes(const fmt::Traits& tt, uint64_t n, const std::string& name) {
    const uint64_t blocks = n / tt.block_elems;
    VKRT_CHECK(blocks <= std::numeric_limits<uint64_t>::max() / tt.block_bytes, Status::bad_format, "gguf: tensor '",
               name, "': byte size overflows");
    return blocks * tt.block_bytes;
}

std::string dims_str(const std::vector<uint64_t>& d) {
    std::string s = "[";
    for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
    return s + "]";
}

// ---- RAII read-only mapping ----

struct Mapping {
    void* addr = nullptr;
    uint64_t size = 0;
    Mapping() = default;
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;
    ~Mapping() {
        if (addr) munmap(addr, size_t(size));
    }
};

}  // namespace

// ---- Value accessors ----

int64_t Value::as_int(const std::string& what) const {
    if (const auto* u = std::get_if<uint64_t>(&v)) {
        VKRT_CHECK(*u <= uint64_t(std::numeric_limits<int64_t>::max()), Status::bad_format, "gguf: ", what,
                   ": value ", *u, " does not fit in int64");
        return int64_t(*u);
    }
    if (const auto* i = std::get_if<int64_t>(&v)) return *i;
    fail(Status::bad_format, "gguf: ", what, " has type ", value_type_name(type), ", expected an integer");
}

double Value::as_float(const std::string& what) const {
    if (const auto* d = std::get_if<double>(&v)) return *d;
    if (const auto* u = std::get_if<uint64_t>(&v)) return double(*u);
    if (const auto* i = std::get_if<int64_t>(&v)) return double(*i);
    fail(Status::bad_format, "gguf: ", what, " has type ", value_type_name(type), ", expected a number");
}

bool Value::as_bool(const std::string& what) const {
    if (const auto* b = std::get_if<bool>(&v)) return *b;
    fail(Status::bad_format, "gguf: ", what, " has type ", value_type_name(type), ", expected BOOL");
}

const std::string& Value::as_string(const std::string& what) const {
    if (const auto* s = std::get_if<std::string>(&v)) return *s;
    fail(Status::bad_format, "gguf: ", what, " has type ", value_type_name(type), ", expected STRING");
}

const Array& Value::as_array(const std::string& what) const {
    if (const auto* a = std::get_if<std::shared_ptr<Array>>(&v); a && *a) return **a;
    fail(Status::bad_format, "gguf: ", what, " has type ", value_type_name(type), ", expected ARRAY");
}

// ---- File ----

struct File::Impl {
    std::string path;
    Mapping map;
    uint32_t version = 0;
    uint64_t data_start = 0;
    uint32_t alignment = kDefaultAlignment;
    std::map<std::string, Value> metadata;
    std::vector<TensorInfo> tensors;
    std::unordered_map<std::string, size_t> by_name;

    void parse();
};

File::File() : impl_(std::make_unique<Impl>()) {}
File::File(File&&) noexcept = default;
File& File::operator=(File&&) noexcept = default;
File::~File() = default;

File File::open(const std::string& path) {
    File f;
    f.impl_->path = path;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    VKRT_CHECK(fd >= 0, Status::io_error, "gguf: cannot open '", path, "': ", std::strerror(errno));
    struct stat st {};
    if (fstat(fd, &st) != 0) {
        const int e = errno;
        ::close(fd);
        fail(Status::io_error, "gguf: cannot stat '", path, "': ", std::strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        fail(Status::io_error, "gguf: '", path, "' is not a regular file");
    }
    const uint64_t size = uint64_t(st.st_size);
    if (size < 4 + 4 + 8 + 8) {
        ::close(fd);
        fail(Status::bad_format, "gguf: '", path, "' is too small to be a GGUF file (", size, " bytes)");
    }
    void* addr = mmap(nullptr, size_t(size), PROT_READ, MAP_PRIVATE, fd, 0);
    const int e = errno;
    ::close(fd);  // the mapping stays valid
    VKRT_CHECK(addr != MAP_FAILED, Status::io_error, "gguf: cannot mmap '", path, "' (", size, " bytes): ",
               std::strerror(e));
    f.impl_->map.addr = addr;
    f.impl_->map.size = size;
    try {
        f.impl_->parse();
    } catch (const Error& err) {
        throw Error(err.status(), std::string(err.what()) + " [in '" + path + "']");
    } catch (const std::bad_alloc&) {
        fail(Status::out_of_memory, "gguf: out of memory while parsing '", path, "'");
    }
    return f;
}

void File::Impl::parse() {
    Cursor c{static_cast<const uint8_t*>(map.addr), map.size};

    // header
    const uint32_t magic = c.read<uint32_t>("magic");
    VKRT_CHECK(magic == kMagic, Status::bad_format, "gguf: bad magic 0x", std::hex, magic,
               " (expected 0x46554747 'GGUF'): not a GGUF file");
    version = c.read<uint32_t>("version");
    VKRT_CHECK(version != 1, Status::unsupported, "gguf: version 1 files are not supported (re-convert to v3)");
    VKRT_CHECK(version == 2 || version == 3, Status::unsupported, "gguf: unsupported version ", version,
               (version & 0xffff) == 0 ? " (big-endian file?)" : "", " (supported: 2, 3)");
    const uint64_t n_tensors = c.read<uint64_t>("tensor count");
    const uint64_t n_kv = c.read<uint64_t>("metadata count");
    // each kv needs >= 8 (key len) + 4 (type) + 1 bytes; each tensor info >= 8 + 4 + 8 + 4 + 8
    VKRT_CHECK(n_kv <= c.remaining() / 13, Status::bad_format, "gguf: metadata count ", n_kv,
               " is impossible for the ", c.remaining(), " bytes left in the file");
    VKRT_CHECK(n_tensors <= c.remaining() / 32, Status::bad_format, "gguf: tensor count ", n_tensors,
               " is impossible for the ", c.remaining(), " bytes left in the file");

    // metadata
    for (uint64_t i = 0; i < n_kv; ++i) {
        const uint64_t at = c.pos;
        std::string key = c.read_string("key", "metadata entry " + std::to_string(i));
        VKRT_CHECK(!key.empty(), Status::bad_format, "gguf: metadata entry ", i, " at offset ", at,
                   " has an empty key");
        VKRT_CHECK(!metadata.count(key), Status::bad_format, "gguf: duplicate metadata key '", key,
                   "' at offset ", at);
        const uint32_t t = c.read<uint32_t>("value type", "key '" + key + "'");
        VKRT_CHECK(valid_value_type(t), Status::bad_format, "gguf: key '", key, "' has invalid value type ", t);
        Value v = read_value(c, ValueType(t), key, 0);
        metadata.emplace(std::move(key), std::move(v));
    }

    // alignment
    if (auto it = metadata.find("general.alignment"); it != metadata.end()) {
        const int64_t a = it->second.as_int("key 'general.alignment'");
        VKRT_CHECK(a > 0 && uint64_t(a) <= kMaxAlignment && is_pow2(uint64_t(a)), Status::bad_format,
                   "gguf: general.alignment ", a, " is not a power of two in [1, ", kMaxAlignment, "]");
        alignment = uint32_t(a);
    }

    // tensor infos
    tensors.reserve(size_t(n_tensors));
    for (uint64_t i = 0; i < n_tensors; ++i) {
        const uint64_t at = c.pos;
        TensorInfo ti;
        ti.name = c.read_string("tensor name", "tensor info " + std::to_string(i));
        VKRT_CHECK(!ti.name.empty(), Status::bad_format, "gguf: tensor info ", i, " at offset ", at,
                   " has an empty name");
        VKRT_CHECK(!by_name.count(ti.name), Status::bad_format, "gguf: duplicate tensor name '", ti.name,
                   "' at offset ", at);
        const std::string ctx = "tensor '" + ti.name + "'";
        const uint32_t n_dims = c.read<uint32_t>("dimension count", ctx);
        VKRT_CHECK(n_dims >= 1 && n_dims <= kMaxDims, Status::bad_format, "gguf: ", ctx, " has ", n_dims,
                   " dimensions (must be 1..", kMaxDims, ")");
        uint64_t n = 1;
        for (uint32_t d = 0; d < n_dims; ++d) {
            const uint64_t dim = c.read<uint64_t>("dimension", ctx);
            VKRT_CHECK(dim > 0, Status::bad_format, "gguf: ", ctx, " has zero dimension ", d);
            VKRT_CHECK(dim <= uint64_t(std::numeric_limits<int64_t>::max()) / n, Status::bad_format, "gguf: ",
                       ctx, ": element count overflows at dimension ", d, " (", dim, ")");
            n *= dim;
            ti.dims.push_back(dim);
        }
        ti.n_elements = n;
        const uint32_t type = c.read<uint32_t>("type", ctx);
        // Any type id is kept (the file can be listed; support is checked where a weight is
        // bound), but its size must be known to place the data.
        const fmt::Traits* tt = fmt::find(type);
        VKRT_CHECK(tt && tt->block_elems != 0, Status::bad_format, "gguf: ", ctx, " has type id ", type,
                   ", an unknown or retired ggml type whose size vkrt does not know");
        ti.type = TensorType(type);
        VKRT_CHECK(ti.dims[0] % tt->block_elems == 0, Status::bad_format, "gguf: ", ctx, " of type ", tt->name,
                   " has row length ", ti.dims[0], ", not a multiple of the block size ", tt->block_elems);
        ti.n_bytes = checked_bytes(*tt, n, ti.name);
        ti.offset = c.read<uint64_t>("data offset", ctx);
        VKRT_CHECK(ti.offset % alignment == 0, Status::bad_format, "gguf: ", ctx, " data offset ", ti.offset,
                   " is not a multiple of the alignment ", alignment);
        by_name.emplace(ti.name, tensors.size());
        tensors.push_back(std::move(ti));
    }

    // data section
    data_start = align_up(c.pos, alignment, "data section start");
    VKRT_CHECK(data_start <= map.size || tensors.empty(), Status::bad_format,
               "gguf: truncated file: data section would start at offset ", data_start, " past end of file (size ",
               map.size, ")");
    const uint64_t data_size = data_start <= map.size ? map.size - data_start : 0;
    for (TensorInfo& ti : tensors) {
        VKRT_CHECK(ti.offset <= data_size && ti.n_bytes <= data_size - ti.offset, Status::bad_format,
                   "gguf: tensor '", ti.name, "' ", dims_str(ti.dims), " ", fmt::name(ti.type), " data [offset ",
                   ti.offset, ", ", ti.n_bytes, " bytes] runs past end of file (size ", map.size,
                   ", data section starts at ", data_start, ")");
        ti.data = static_cast<const uint8_t*>(map.addr) + data_start + ti.offset;
    }
    // No two tensors may share bytes (llama.cpp packs them in order; an overlap is a
    // corrupt or malicious file, and writing one tensor would change another).
    std::vector<const TensorInfo*> by_offset;
    by_offset.reserve(tensors.size());
    for (const TensorInfo& ti : tensors) by_offset.push_back(&ti);
    std::sort(by_offset.begin(), by_offset.end(),
              [](const TensorInfo* x, const TensorInfo* y) { return x->offset < y->offset; });
    for (size_t i = 1; i < by_offset.size(); ++i) {
        const TensorInfo& prev = *by_offset[i - 1];
        const TensorInfo& cur = *by_offset[i];
        VKRT_CHECK(cur.offset >= prev.offset + prev.n_bytes, Status::bad_format, "gguf: tensor '", cur.name,
                   "' data [offset ", cur.offset, ", ", cur.n_bytes, " bytes] overlaps tensor '", prev.name,
                   "' [offset ", prev.offset, ", ", prev.n_bytes, " bytes]");
    }
}

uint32_t File::version() const { return impl_->version; }
const std::map<std::string, Value>& File::metadata() const { return impl_->metadata; }
const std::vector<TensorInfo>& File::tensors() const { return impl_->tensors; }
uint64_t File::file_size() const { return impl_->map.size; }
uint64_t File::data_offset() const { return impl_->data_start; }
uint32_t File::alignment() const { return impl_->alignment; }

const TensorInfo* File::find_tensor(const std::string& name) const {
    auto it = impl_->by_name.find(name);
    return it == impl_->by_name.end() ? nullptr : &impl_->tensors[it->second];
}

const TensorInfo& File::tensor(const std::string& name) const {
    const TensorInfo* t = find_tensor(name);
    VKRT_CHECK(t, Status::bad_format, "gguf: tensor '", name, "' not found in '", impl_->path, "'");
    return *t;
}

const Value* File::find(const std::string& key) const {
    auto it = impl_->metadata.find(key);
    return it == impl_->metadata.end() ? nullptr : &it->second;
}

int64_t File::get_int(const std::string& key, int64_t def) const {
    const Value* v = find(key);
    return v ? v->as_int("key '" + key + "'") : def;
}

double File::get_float(const std::string& key, double def) const {
    const Value* v = find(key);
    return v ? v->as_float("key '" + key + "'") : def;
}

std::string File::get_string(const std::string& key, const std::string& def) const {
    const Value* v = find(key);
    return v ? v->as_string("key '" + key + "'") : def;
}

std::vector<std::string> File::get_string_array(const std::string& key) const {
    std::vector<std::string> out;
    const Value* v = find(key);
    if (!v) return out;
    const std::string what = "key '" + key + "'";
    const Array& a = v->as_array(what);
    out.reserve(a.size());
    for (const Value& e : a) out.push_back(e.as_string(what + " element"));
    return out;
}

std::vector<float> File::get_float_array(const std::string& key) const {
    std::vector<float> out;
    const Value* v = find(key);
    if (!v) return out;
    const std::string what = "key '" + key + "'";
    const Array& a = v->as_array(what);
    out.reserve(a.size());
    for (const Value& e : a) out.push_back(float(e.as_float(what + " element")));
    return out;
}

std::vector<int64_t> File::get_int_array(const std::string& key) const {
    std::vector<int64_t> out;
    const Value* v = find(key);
    if (!v) return out;
    const std::string what = "key '" + key + "'";
    const Array& a = v->as_array(what);
    out.reserve(a.size());
    for (const Value& e : a) out.push_back(e.as_int(what + " element"));
    return out;
}

// ---- Writer ----

namespace {

Value scalar(ValueType t, std::variant<uint64_t, int64_t, double, bool, std::string, std::shared_ptr<Array>> v) {
    Value out;
    out.type = t;
    out.v = std::move(v);
    return out;
}

// Output through io::SafeWriter (temporary sibling, fsync, checked rename); every
// failure is an io_error naming the path.
struct Out {
    io::SafeWriter& w;
    uint64_t pos = 0;

    void bytes(const void* p, size_t n) {
        w.write(p, n);
        pos += n;
    }
    template <typename T>
    void put(T v) { bytes(&v, sizeof v); }
    void str(const std::string& s) {
        put<uint64_t>(s.size());
        bytes(s.data(), s.size());
    }
    void pad_to(uint64_t align) {
        static const uint8_t zeros[64] = {};
        while (pos % align) bytes(zeros, size_t(std::min<uint64_t>(sizeof zeros, align - pos % align)));
    }
};

[[noreturn]] void bad_value(const std::string& key, ValueType t) {
    fail(Status::invalid_argument, "gguf writer: key '", key, "': value of type ", value_type_name(t),
         " holds the wrong kind of data");
}

void write_value(Out& o, const Value& v, const std::string& key) {
    auto bad = [&]() { bad_value(key, v.type); };
    auto u = [&]() -> uint64_t {
        if (auto p = std::get_if<uint64_t>(&v.v)) return *p;
        if (auto p = std::get_if<int64_t>(&v.v)) return uint64_t(*p);
        bad_value(key, v.type);
    };
    auto d = [&]() -> double {
        if (auto p = std::get_if<double>(&v.v)) return *p;
        bad_value(key, v.type);
    };
    switch (v.type) {
        case ValueType::UINT8: case ValueType::INT8: o.put<uint8_t>(uint8_t(u())); break;
        case ValueType::UINT16: case ValueType::INT16: o.put<uint16_t>(uint16_t(u())); break;
        case ValueType::UINT32: case ValueType::INT32: o.put<uint32_t>(uint32_t(u())); break;
        case ValueType::UINT64: case ValueType::INT64: o.put<uint64_t>(u()); break;
        case ValueType::FLOAT32: o.put<float>(float(d())); break;
        case ValueType::FLOAT64: o.put<double>(d()); break;
        case ValueType::BOOL: {
            auto p = std::get_if<bool>(&v.v);
            if (!p) bad();
            o.put<uint8_t>(*p ? 1 : 0);
            break;
        }
        case ValueType::STRING: {
            auto p = std::get_if<std::string>(&v.v);
            if (!p) bad();
            o.str(*p);
            break;
        }
        case ValueType::ARRAY: {
            auto p = std::get_if<std::shared_ptr<Array>>(&v.v);
            if (!p || !*p) bad();
            o.put<uint32_t>(uint32_t(v.elem_type));
            o.put<uint64_t>((*p)->size());
            for (const Value& e : **p) {
                VKRT_CHECK(e.type == v.elem_type, Status::invalid_argument, "gguf writer: key '", key,
                           "': array of ", value_type_name(v.elem_type), " holds an element of type ",
                           value_type_name(e.type));
                write_value(o, e, key);
            }
            break;
        }
        default: bad();
    }
}

}  // namespace

void Writer::set_value(const std::string& key, Value v) {
    VKRT_CHECK(!key.empty(), Status::invalid_argument, "gguf writer: empty key");
    for (KV& kv : kv_)
        if (kv.key == key) {
            kv.value = std::move(v);
            return;
        }
    kv_.push_back({key, std::move(v)});
}

void Writer::set_u32(const std::string& key, uint32_t v) { set_value(key, scalar(ValueType::UINT32, uint64_t(v))); }
void Writer::set_i32(const std::string& key, int32_t v) { set_value(key, scalar(ValueType::INT32, int64_t(v))); }
void Writer::set_f32(const std::string& key, float v) { set_value(key, scalar(ValueType::FLOAT32, double(v))); }
void Writer::set_bool(const std::string& key, bool v) { set_value(key, scalar(ValueType::BOOL, v)); }
void Writer::set_string(const std::string& key, const std::string& v) {
    set_value(key, scalar(ValueType::STRING, v));
}

void Writer::set_string_array(const std::string& key, const std::vector<std::string>& v) {
    auto a = std::make_shared<Array>();
    a->reserve(v.size());
    for (const auto& s : v) a->push_back(scalar(ValueType::STRING, s));
    Value val = scalar(ValueType::ARRAY, std::move(a));
    val.elem_type = ValueType::STRING;
    set_value(key, std::move(val));
}

void Writer::set_f32_array(const std::string& key, const std::vector<float>& v) {
    auto a = std::make_shared<Array>();
    a->reserve(v.size());
    for (float x : v) a->push_back(scalar(ValueType::FLOAT32, double(x)));
    Value val = scalar(ValueType::ARRAY, std::move(a));
    val.elem_type = ValueType::FLOAT32;
    set_value(key, std::move(val));
}

void Writer::set_i32_array(const std::string& key, const std::vector<int32_t>& v) {
    auto a = std::make_shared<Array>();
    a->reserve(v.size());
    for (int32_t x : v) a->push_back(scalar(ValueType::INT32, int64_t(x)));
    Value val = scalar(ValueType::ARRAY, std::move(a));
    val.elem_type = ValueType::INT32;
    set_value(key, std::move(val));
}

void Writer::copy_value(const std::string& key, const Value& v) { set_value(key, v); }

void Writer::check_new_tensor(const std::string& name, TensorType type, const std::vector<uint64_t>& dims,
                              uint64_t& n_bytes) const {
    VKRT_CHECK(!name.empty(), Status::invalid_argument, "gguf writer: empty tensor name");
    for (const T& t : tensors_)
        VKRT_CHECK(t.name != name, Status::invalid_argument, "gguf writer: duplicate tensor name '", name, "'");
    const fmt::Traits* tt = fmt::find(uint32_t(type));
    VKRT_CHECK(tt && tt->block_elems != 0, Status::unsupported, "gguf writer: tensor '", name,
               "' has unknown type id ", uint32_t(type));
    VKRT_CHECK(!dims.empty() && dims.size() <= kMaxDims, Status::invalid_argument, "gguf writer: tensor '", name,
               "' has ", dims.size(), " dimensions (must be 1..", kMaxDims, ")");
    uint64_t n = 1;
    for (uint64_t d : dims) {
        VKRT_CHECK(d > 0 && d <= uint64_t(std::numeric_limits<int64_t>::max()) / n, Status::invalid_argument,
                   "gguf writer: tensor '", name, "' has bad dims ", dims_str(dims));
        n *= d;
    }
    VKRT_CHECK(dims[0] % tt->block_elems == 0, Status::invalid_argument, "gguf writer: tensor '", name, "' ",
               dims_str(dims), ": row length ", dims[0], " is not a multiple of ", tt->name, "'s block size ",
               tt->block_elems);
    n_bytes = fmt::row_bytes(type, dims[0]) * (n / dims[0]);
}

void Writer::add_tensor(const std::string& name, TensorType type, std::vector<uint64_t> dims,
                        std::vector<uint8_t> bytes) {
    uint64_t n_bytes = 0;
    check_new_tensor(name, type, dims, n_bytes);
    VKRT_CHECK(bytes.size() == n_bytes, Status::invalid_argument, "gguf writer: tensor '", name, "' ",
               dims_str(dims), " ", fmt::name(type), " needs ", n_bytes, " bytes, got ", bytes.size());
    tensors_.push_back({name, type, std::move(dims), std::move(bytes), nullptr, n_bytes});
}

void Writer::add_tensor_rows(const std::string& name, TensorType type, std::vector<uint64_t> dims, RowFill fill) {
    uint64_t n_bytes = 0;
    check_new_tensor(name, type, dims, n_bytes);
    VKRT_CHECK(bool(fill), Status::invalid_argument, "gguf writer: tensor '", name, "' has no fill function");
    tensors_.push_back({name, type, std::move(dims), {}, std::move(fill), n_bytes});
}

void Writer::write(const std::string& path, uint32_t alignment) const {
    try {
        write_impl(path, alignment);
    } catch (const std::bad_alloc&) {
        fail(Status::out_of_memory, "gguf writer: out of memory while writing '", path, "'");
    }
}

void Writer::write_impl(const std::string& path, uint32_t alignment) const {
    VKRT_CHECK(is_pow2(alignment) && alignment <= kMaxAlignment, Status::invalid_argument,
               "gguf writer: alignment ", alignment, " is not a power of two in [1, ", kMaxAlignment, "]");
    io::SafeWriter writer(path);  // removes its temporary file unless committed
    {
        Out o{writer};

        // header. general.alignment is written only when it is not GGUF's default of 32, as
        // llama.cpp's writer does (llama-quantize's files carry none; a file vkrt-quantize writes
        // must be no larger than llama-quantize's).
        const bool write_alignment = alignment != 32;
        const uint64_t n_kv = (write_alignment ? 1 : 0) +
                              std::count_if(kv_.begin(), kv_.end(),
                                            [](const KV& kv) { return kv.key != "general.alignment"; });
        o.put<uint32_t>(kMagic);
        o.put<uint32_t>(3);
        o.put<uint64_t>(tensors_.size());
        o.put<uint64_t>(n_kv);

        // metadata (general.alignment last)
        for (const KV& kv : kv_) {
            if (kv.key == "general.alignment") continue;
            o.str(kv.key);
            o.put<uint32_t>(uint32_t(kv.value.type));
            write_value(o, kv.value, kv.key);
        }
        if (write_alignment) {
            o.str("general.alignment");
            o.put<uint32_t>(uint32_t(ValueType::UINT32));
            o.put<uint32_t>(alignment);
        }

        // tensor infos, offsets packed in order with padding
        uint64_t offset = 0;
        for (const T& t : tensors_) {
            o.str(t.name);
            o.put<uint32_t>(uint32_t(t.dims.size()));
            for (uint64_t d : t.dims) o.put<uint64_t>(d);
            o.put<uint32_t>(uint32_t(t.type));
            o.put<uint64_t>(offset);
            offset += (t.n_bytes + alignment - 1) / alignment * alignment;
        }
        o.pad_to(alignment);

        // data
        std::vector<uint8_t> buf;
        for (const T& t : tensors_) {
            if (!t.fill) {
                o.bytes(t.bytes.data(), t.bytes.size());
            } else {
                const uint64_t rb = fmt::row_bytes(t.type, t.dims[0]);
                const uint64_t rows = t.n_bytes / rb;
                const uint64_t chunk = std::max<uint64_t>(1, (4u << 20) / rb);  // ~4 MiB per fill call
                buf.resize(size_t(std::min(rows, chunk) * rb));
                for (uint64_t r = 0; r < rows; r += chunk) {
                    const uint64_t n = std::min(chunk, rows - r);
                    t.fill(r, n, buf.data());
                    o.bytes(buf.data(), size_t(n * rb));
                }
            }
            o.pad_to(alignment);
        }
    }
    writer.commit();
}

}  // namespace vkrt::gguf
