// GGUF v2/v3 reader (memory-mapped) and writer.
// Every byte of a GGUF file is untrusted: each read is bounds- and
// overflow-checked against the file size; problems throw vkrt::Error with
// Status::bad_format (or io_error) and a message that names the problem
// (offset, key or tensor name).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "core/error.hpp"
#include "core/format.hpp"

namespace vkrt::gguf {

// ggml_type values as stored in GGUF: the format registry's id (core/format.hpp).
// The reader keeps every type id whose size formats.def knows (IQ2_XXS, Q8_K, ...), so
// any such file can be opened and listed; whether vkrt can run a tensor is decided where
// it is bound (fmt::traits(type).kernels). Names, block sizes and row bytes: fmt::.
using TensorType = Format;

enum class ValueType : uint32_t {
    UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6,
    BOOL = 7, STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};

struct Value;
using Array = std::vector<Value>;
struct Value {
    ValueType type = ValueType::UINT32;
    ValueType elem_type = ValueType::UINT32;  // for arrays
    std::variant<uint64_t, int64_t, double, bool, std::string, std::shared_ptr<Array>> v;
    // Typed accessors; throw bad_format naming `what` if the stored type does not fit.
    int64_t as_int(const std::string& what) const;
    double as_float(const std::string& what) const;
    bool as_bool(const std::string& what) const;
    const std::string& as_string(const std::string& what) const;
    const Array& as_array(const std::string& what) const;
};

struct TensorInfo {
    std::string name;
    std::vector<uint64_t> dims;  // GGUF order: dims[0] is the contiguous (row) length
    TensorType type;
    uint64_t offset = 0;         // from the start of the data section
    uint64_t n_elements = 0;
    uint64_t n_bytes = 0;
    const uint8_t* data = nullptr;  // points into the mapping
};

class File {
public:
    static File open(const std::string& path);  // mmap + parse + validate
    File(File&&) noexcept;
    File& operator=(File&&) noexcept;
    ~File();

    uint32_t version() const;
    const std::map<std::string, Value>& metadata() const;
    const std::vector<TensorInfo>& tensors() const;
    const TensorInfo* find_tensor(const std::string& name) const;       // nullptr if absent
    const TensorInfo& tensor(const std::string& name) const;            // throws naming the tensor
    const Value* find(const std::string& key) const;                    // nullptr if absent
    // Convenience getters with defaults (throw if present with a wrong type).
    int64_t get_int(const std::string& key, int64_t def) const;
    double get_float(const std::string& key, double def) const;
    std::string get_string(const std::string& key, const std::string& def) const;
    std::vector<std::string> get_string_array(const std::string& key) const;  // empty if absent
    std::vector<float> get_float_array(const std::string& key) const;
    std::vector<int64_t> get_int_array(const std::string& key) const;
    uint64_t file_size() const;
    uint64_t data_offset() const;  // file offset of the data section (tensor offsets are relative to it)
    uint32_t alignment() const;    // general.alignment (default 32)

private:
    File();
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Writer: builds a GGUF v3 file (used by vkrt-quantize and the synthetic models of tests/bench).
class Writer {
public:
    void set_u32(const std::string& key, uint32_t v);
    void set_i32(const std::string& key, int32_t v);
    void set_f32(const std::string& key, float v);
    void set_bool(const std::string& key, bool v);
    void set_string(const std::string& key, const std::string& v);
    void set_string_array(const std::string& key, const std::vector<std::string>& v);
    void set_f32_array(const std::string& key, const std::vector<float>& v);
    void set_i32_array(const std::string& key, const std::vector<int32_t>& v);
    void copy_value(const std::string& key, const Value& v);  // any stored value, arrays too
    // dims in GGUF order (dims[0] = row length); bytes must be row_bytes * rows.
    void add_tensor(const std::string& name, TensorType type, std::vector<uint64_t> dims,
                    std::vector<uint8_t> bytes);
    // Streaming tensor: write() calls fill(row0, n_rows, out) to produce rows
    // [row0, row0 + n_rows) (n_rows * row_bytes bytes at out), a few MiB at a
    // time, so huge tensors never sit in memory. Rows = n_elements / dims[0].
    using RowFill = std::function<void(uint64_t row0, uint64_t n_rows, uint8_t* out)>;
    void add_tensor_rows(const std::string& name, TensorType type, std::vector<uint64_t> dims,
                         RowFill fill);
    // Writes through io::SafeWriter: a temporary sibling "<path>.part-XXXXXX", fsync'd,
    // then renamed over path (never half a file at path). path must be new or a regular
    // file, and no file registered as an input (io::InputGuard: vkrt-quantize's model).
    // Always writes general.alignment = alignment (u32, power of two, <= 1 MiB) as the
    // last key; a general.alignment set or copied earlier is replaced by it.
    void write(const std::string& path, uint32_t alignment = 32) const;  // throws io_error

private:
    struct KV { std::string key; Value value; };
    struct T {
        std::string name; TensorType type; std::vector<uint64_t> dims; std::vector<uint8_t> bytes;
        RowFill fill;  // set for streaming tensors (bytes empty)
        uint64_t n_bytes = 0;
    };
    void set_value(const std::string& key, Value v);
    void write_impl(const std::string& path, uint32_t alignment) const;
    void check_new_tensor(const std::string& name, TensorType type, const std::vector<uint64_t>& dims,
                          uint64_t& n_bytes) const;
    std::vector<KV> kv_;
    std::vector<T> tensors_;
};

}  // namespace vkrt::gguf
