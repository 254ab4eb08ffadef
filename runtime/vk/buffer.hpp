// Buffers: device-local storage buffers (mapped directly where the device's
// memory is host visible, as on phones and lavapipe), staging for upload and
// readback otherwise. BufferView is the unit bound to a shader.
#pragma once
#include <vulkan/vulkan.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "vk/handle.hpp"

namespace vkrt {

class Device;

enum class MemoryKind {
    device,    // device-local (host visible too on unified memory)
    upload,    // host visible, for staging uploads
    readback,  // host visible + cached, for staging readbacks
};

// What a buffer holds, for the recorder's count of bytes read per category
// (Recorder::counts, vkrt-bench): set by the owner (the model tags its weights, the
// session its KV cache); everything else counts as activations.
enum class ByteClass : uint8_t { activations = 0, weights = 1, kv = 2 };
inline constexpr size_t kByteClasses = 3;

class Buffer {
public:
    Buffer() = default;
    Buffer(Device& dev, uint64_t size, MemoryKind kind = MemoryKind::device, std::string name = {});
    Buffer(Buffer&&) noexcept = default;
    Buffer& operator=(Buffer&&) noexcept = default;
    ~Buffer() = default;

    VkBuffer handle() const { return buf_; }
    uint64_t size() const { return size_; }
    const std::string& name() const { return name_; }
    void* mapped() const { return mapped_; }  // nullptr unless host visible
    ByteClass byte_class() const { return class_; }
    void set_byte_class(ByteClass c) { class_ = c; }
    explicit operator bool() const { return bool(buf_); }

    // Copy host data in/out at a byte offset (staging through a temporary buffer
    // and a one-off submit when the memory is not host visible).
    void upload(const void* src, uint64_t bytes, uint64_t offset = 0);
    void download(void* dst, uint64_t bytes, uint64_t offset = 0) const;
    void fill_zero();

    template <typename T>
    void upload(std::span<const T> v, uint64_t offset = 0) { upload(v.data(), v.size_bytes(), offset); }
    template <typename T>
    std::vector<T> download_as(size_t count, uint64_t offset = 0) const {
        std::vector<T> v(count);
        download(v.data(), count * sizeof(T), offset);
        return v;
    }

private:
    Device* dev_ = nullptr;
    vk::Unique<VkBuffer> buf_;
    vk::Unique<VkDeviceMemory> mem_;
    uint64_t size_ = 0;
    void* mapped_ = nullptr;
    bool coherent_ = true;
    ByteClass class_ = ByteClass::activations;
    std::string name_;
};

// A byte range of a buffer, bound as one storage-buffer descriptor.
struct BufferView {
    const Buffer* buffer = nullptr;
    uint64_t offset = 0;
    uint64_t range = VK_WHOLE_SIZE;  // VK_WHOLE_SIZE = to the end
    BufferView() = default;
    BufferView(const Buffer& b) : buffer(&b) {}  // NOLINT: a whole buffer binds implicitly
    BufferView(const Buffer& b, uint64_t off, uint64_t len) : buffer(&b), offset(off), range(len) {}
    uint64_t bytes() const;
};

// Convenience: a device buffer holding `data`.
template <typename T>
Buffer make_buffer(Device& dev, std::span<const T> data, const std::string& name = {}) {
    Buffer b(dev, std::max<uint64_t>(data.size_bytes(), 4), MemoryKind::device, name);
    if (!data.empty()) b.upload(data.data(), data.size_bytes());
    return b;
}
template <typename T>
Buffer make_buffer(Device& dev, const std::vector<T>& data, const std::string& name = {}) {
    return make_buffer(dev, std::span<const T>(data), name);
}

}  // namespace vkrt
