#include "vk/buffer.hpp"

#include <cstring>

#include "vk/check.hpp"
#include "vk/device.hpp"

namespace vkrt {

namespace {

int find_memory_type(const VkPhysicalDeviceMemoryProperties& mp, uint32_t type_bits, VkMemoryPropertyFlags want,
                     VkMemoryPropertyFlags avoid = 0) {
    for (uint32_t i = 0; i < mp.memoryTypeCount; ++i) {
        auto f = mp.memoryTypes[i].propertyFlags;
        if ((type_bits & (1u << i)) && (f & want) == want && !(f & avoid)) return int(i);
    }
    return -1;
}

// One-off command buffer (the device's pool, locked): copy between buffers and wait.
void copy_now(Device& dev, VkBuffer src, uint64_t src_off, VkBuffer dst, uint64_t dst_off, uint64_t bytes) {
    dev.run_once([&](VkCommandBuffer cb) {
        // Make earlier shader writes visible to the copy, and the copy to later work.
        VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
        mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
        mb.dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
        vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                             VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &mb, 0, nullptr, 0, nullptr);
        VkBufferCopy region{src_off, dst_off, bytes};
        vkCmdCopyBuffer(cb, src, dst, 1, &region);
    });
}

}  // namespace

Buffer::Buffer(Device& dev, uint64_t size, MemoryKind kind, std::string name)
    : dev_(&dev), size_(size), name_(std::move(name)) {
    VKRT_CHECK(size > 0, Status::invalid_argument, "buffer '", name_, "': size 0");
    const auto& caps = dev.caps();
    VKRT_CHECK(size <= caps.max_allocation_size || caps.max_allocation_size == 0, Status::limit_exceeded,
               "buffer '", name_, "' of ", size, " bytes exceeds maxMemoryAllocationSize (",
               caps.max_allocation_size, " bytes) of ", caps.name);
    VkDevice d = dev.handle();
    VkBufferCreateInfo ci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    ci.size = size;
    ci.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
               VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    ci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    VkBuffer b = VK_NULL_HANDLE;
    VK_CHECK(vkCreateBuffer(d, &ci, nullptr, &b));
    buf_ = vk::Unique<VkBuffer>(b, [d](VkBuffer h) { vkDestroyBuffer(d, h, nullptr); });

    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(d, b, &req);
    const auto& mp = dev.memory_properties();
    const VkMemoryPropertyFlags local = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    const VkMemoryPropertyFlags visible = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT;
    const VkMemoryPropertyFlags coherent = VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    const VkMemoryPropertyFlags cached = VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
    int type = -1;
    switch (kind) {
        case MemoryKind::device:
            if (caps.uma) type = find_memory_type(mp, req.memoryTypeBits, local | visible | coherent);
            if (type < 0) type = find_memory_type(mp, req.memoryTypeBits, local);
            break;
        case MemoryKind::upload:
            type = find_memory_type(mp, req.memoryTypeBits, visible | coherent);
            break;
        case MemoryKind::readback:
            type = find_memory_type(mp, req.memoryTypeBits, visible | coherent | cached);
            if (type < 0) type = find_memory_type(mp, req.memoryTypeBits, visible | coherent);
            break;
    }
    if (type < 0) type = find_memory_type(mp, req.memoryTypeBits, 0);
    VKRT_CHECK(type >= 0, Status::unsupported, "buffer '", name_, "': no usable memory type");

    VkMemoryAllocateInfo ai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    ai.allocationSize = req.size;
    ai.memoryTypeIndex = uint32_t(type);
    VkDeviceMemory m = VK_NULL_HANDLE;
    VkResult r = vkAllocateMemory(d, &ai, nullptr, &m);
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
        fail(Status::out_of_memory, "out of ", r == VK_ERROR_OUT_OF_DEVICE_MEMORY ? "device" : "host",
             " memory allocating ", size, " bytes for buffer '", name_, "' on ", caps.name);
    VK_CHECK(r);
    const Device* owner = &dev;
    const int64_t bytes = int64_t(req.size);
    owner->note_allocation(bytes);
    mem_ = vk::Unique<VkDeviceMemory>(m, [d, owner, bytes](VkDeviceMemory h) {
        vkFreeMemory(d, h, nullptr);
        owner->note_allocation(-bytes);
    });
    VK_CHECK(vkBindBufferMemory(d, b, m, 0));
    auto flags = mp.memoryTypes[type].propertyFlags;
    if (flags & visible) {
        coherent_ = flags & coherent;
        VK_CHECK(vkMapMemory(d, m, 0, VK_WHOLE_SIZE, 0, &mapped_));
    }
}

void Buffer::upload(const void* src, uint64_t bytes, uint64_t offset) {
    VKRT_CHECK(buf_, Status::invalid_argument, "upload into an empty buffer");
    VKRT_CHECK(offset <= size_ && bytes <= size_ - offset, Status::invalid_argument, "upload of ", bytes,
               " bytes at offset ", offset, " overruns buffer '", name_, "' of ", size_, " bytes");
    if (bytes == 0) return;
    if (mapped_) {
        std::memcpy(static_cast<char*>(mapped_) + offset, src, bytes);
        if (!coherent_) {
            VkMappedMemoryRange r{VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE, nullptr, mem_, 0, VK_WHOLE_SIZE};
            VK_CHECK(vkFlushMappedMemoryRanges(dev_->handle(), 1, &r));
        }
        return;
    }
    // Stage in chunks so that huge tensors do not need a second full-size buffer.
    const uint64_t chunk = std::min<uint64_t>(bytes, 64ull << 20);
    Buffer staging(*dev_, chunk, MemoryKind::upload, name_ + " (staging)");
    for (uint64_t done = 0; done < bytes; done += chunk) {
        uint64_t n = std::min(chunk, bytes - done);
        staging.upload(static_cast<const char*>(src) + done, n, 0);
        copy_now(*dev_, staging.handle(), 0, buf_, offset + done, n);
    }
}

void Buffer::download(void* dst, uint64_t bytes, uint64_t offset) const {
    VKRT_CHECK(buf_, Status::invalid_argument, "download from an empty buffer");
    VKRT_CHECK(offset <= size_ && bytes <= size_ - offset, Status::invalid_argument, "download of ", bytes,
               " bytes at offset ", offset, " overruns buffer '", name_, "' of ", size_, " bytes");
    if (bytes == 0) return;
    if (mapped_) {
        if (!coherent_) {
            VkMappedMemoryRange r{VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE, nullptr, mem_, 0, VK_WHOLE_SIZE};
            VK_CHECK(vkInvalidateMappedMemoryRanges(dev_->handle(), 1, &r));
        }
        std::memcpy(dst, static_cast<const char*>(mapped_) + offset, bytes);
        return;
    }
    const uint64_t chunk = std::min<uint64_t>(bytes, 64ull << 20);
    Buffer staging(*dev_, chunk, MemoryKind::readback, name_ + " (readback)");
    for (uint64_t done = 0; done < bytes; done += chunk) {
        uint64_t n = std::min(chunk, bytes - done);
        copy_now(*dev_, buf_, offset + done, staging.handle(), 0, n);
        staging.download(static_cast<char*>(dst) + done, n, 0);
    }
}

void Buffer::fill_zero() {
    std::vector<uint8_t> z(std::min<uint64_t>(size_, 16ull << 20), 0);
    for (uint64_t off = 0; off < size_; off += z.size())
        upload(z.data(), std::min<uint64_t>(z.size(), size_ - off), off);
}

uint64_t BufferView::bytes() const {
    if (!buffer) return 0;
    return range == VK_WHOLE_SIZE ? buffer->size() - offset : range;
}

}  // namespace vkrt
