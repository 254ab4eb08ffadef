#include "vk/recorder.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "vk/check.hpp"
#include "vk/device.hpp"
#include "vk/pipeline.hpp"

namespace vkrt {

namespace {
// Every descriptor pool holds kSetsPerPool sets and kDescriptorsPerPool storage-buffer
// descriptors (the only descriptor type the kernels use: pipeline.hpp). A spec-following
// driver (turnip) refuses a set once either count is spent, so the recorder counts both
// itself and opens the next pool before a set would not fit: no allocation is ever refused.
// 8 per set on average: a forward pass binds 2-12 buffers per dispatch (mostly 3-5).
constexpr uint32_t kSetsPerPool = 256;
constexpr uint32_t kDescriptorsPerPool = kSetsPerPool * 8;
}  // namespace

Recorder::Recorder(Device& dev) : dev_(&dev) {
    VkDevice d = dev.handle();
    // A command pool per recorder: pools need external synchronization, and
    // recorders of different sessions record on different threads.
    VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
    pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    pci.queueFamilyIndex = dev.queue_family();
    VkCommandPool pool = VK_NULL_HANDLE;
    VK_CHECK(vkCreateCommandPool(d, &pci, nullptr, &pool));
    pool_ = vk::Unique<VkCommandPool>(pool, [d](VkCommandPool p) { vkDestroyCommandPool(d, p, nullptr); });
    VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    ai.commandPool = pool;
    ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    ai.commandBufferCount = 1;
    VkCommandBuffer cb = VK_NULL_HANDLE;
    VK_CHECK(vkAllocateCommandBuffers(d, &ai, &cb));
    cb_ = vk::Unique<VkCommandBuffer>(cb, [d, pool](VkCommandBuffer c) { vkFreeCommandBuffers(d, pool, 1, &c); });
    budget_ = dev.caps().record_budget;
    if (dev.caps().timestamp_period_ns > 0) {
        VkQueryPoolCreateInfo qi{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
        qi.queryType = VK_QUERY_TYPE_TIMESTAMP;
        qi.queryCount = kMaxMarks;
        VkQueryPool qp = VK_NULL_HANDLE;
        VK_CHECK(vkCreateQueryPool(d, &qi, nullptr, &qp));
        queries_ = vk::Unique<VkQueryPool>(qp, [d](VkQueryPool q) { vkDestroyQueryPool(d, q, nullptr); });
        const char* prof = std::getenv("VKRT_PROFILE");
        if (prof && *prof && std::strcmp(prof, "0") != 0) {
            qi.queryCount = 2 * kMaxProfiled;
            VK_CHECK(vkCreateQueryPool(d, &qi, nullptr, &qp));
            profile_queries_ =
                vk::Unique<VkQueryPool>(qp, [d](VkQueryPool q) { vkDestroyQueryPool(d, q, nullptr); });
        }
    }
}

Recorder::~Recorder() {
    // The command buffer may still be executing only if submit() threw mid-way.
    if (recorded_) {
        try {
            dev_->queue_wait_idle();
        } catch (...) {
            // device lost: nothing is executing any more
        }
    }
}

void Recorder::begin() {
    VK_CHECK(vkResetCommandBuffer(cb_, 0));
    for (auto& p : pools_) VK_CHECK(vkResetDescriptorPool(dev_->handle(), p, 0));
    for (DescriptorPoolUse& u : pool_use_) u.sets = u.descriptors = 0;
    pool_index_ = 0;
    deferred_ = budget_ > 0;
    streamed_ = false;
    commands_.clear();
    push_data_.clear();
    segment_starts_.clear();
    if (deferred_) segment_starts_.push_back(0);
    segment_local_ = max_segment_local_ = local_total_ = 0;
    if (!deferred_) open(cb_, true);
    profile_names_.clear();
    recording_ = true;
    recorded_ = false;
    pending_reads_.clear();
    pending_writes_.clear();
    dispatches_ = 0;
    barriers_ = 0;
    for (uint64_t& b : bytes_read_) b = 0;
    if (workspaces_.size() > 1) workspaces_.erase(workspaces_.begin(), workspaces_.end() - 1);
}

VkDescriptorSet Recorder::allocate_set(VkDescriptorSetLayout layout, uint32_t n_descriptors) {
    VkDevice d = dev_->handle();
    VKRT_CHECK(n_descriptors <= kDescriptorsPerPool, Status::internal, "a descriptor set of ", n_descriptors,
               " storage buffers exceeds a whole descriptor pool (", kDescriptorsPerPool, ")");
    for (;; ++pool_index_) {
        if (pool_index_ == pools_.size()) {
            VkDescriptorPoolSize ps{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, kDescriptorsPerPool};
            VkDescriptorPoolCreateInfo ci{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
            ci.maxSets = kSetsPerPool;
            ci.poolSizeCount = 1;
            ci.pPoolSizes = &ps;
            VkDescriptorPool pool = VK_NULL_HANDLE;
            VK_CHECK(vkCreateDescriptorPool(d, &ci, nullptr, &pool));
            pools_.emplace_back(pool, [d](VkDescriptorPool p) { vkDestroyDescriptorPool(d, p, nullptr); });
            pool_use_.push_back({kSetsPerPool, kDescriptorsPerPool, 0, 0});
        }
        DescriptorPoolUse& use = pool_use_[pool_index_];
        // The pool's own counts decide, not the driver's result: lavapipe hands out sets past
        // them, turnip refuses (VK_ERROR_OUT_OF_POOL_MEMORY, which the validation layer reports).
        if (use.sets + 1 > use.max_sets || use.descriptors + n_descriptors > use.max_descriptors) continue;
        VkDescriptorSetAllocateInfo ai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
        ai.descriptorPool = pools_[pool_index_];
        ai.descriptorSetCount = 1;
        ai.pSetLayouts = &layout;
        VkDescriptorSet set = VK_NULL_HANDLE;
        VkResult r = vkAllocateDescriptorSets(d, &ai, &set);
        if (r == VK_SUCCESS) {
            use.sets += 1;
            use.descriptors += n_descriptors;
            return set;
        }
        if (r != VK_ERROR_OUT_OF_POOL_MEMORY && r != VK_ERROR_FRAGMENTED_POOL) VK_CHECK(r);
        // A set that fits the counts was refused: a driver reserving more than the counts say.
        // Go on with a fresh pool (the run stays correct), and count it (tests assert zero).
        ++pool_refusals_;
    }
}

void Recorder::dispatch_raw(const Pipeline& p, std::span<const BufferView> bindings, const void* push,
                            size_t push_size, Groups g) {
    VKRT_CHECK(recording_, Status::internal, "dispatch of '", p.name(), "' outside begin()/end()");
    const ShaderInterface& iface = p.interface();
    VKRT_CHECK(push_size == iface.push_size, Status::internal, "dispatch of '", p.name(), "': ", push_size,
               " bytes of push constants, the shader declares ", iface.push_size);
    VKRT_CHECK(bindings.size() == iface.n_bindings, Status::internal, "dispatch of '", p.name(), "': ",
               bindings.size(), " buffers bound, the shader declares ", iface.n_bindings);
    const Capabilities& caps = dev_->caps();
    VKRT_CHECK(g.x >= 1 && g.y >= 1 && g.z >= 1 && g.x <= caps.max_workgroup_count[0] &&
                   g.y <= caps.max_workgroup_count[1] && g.z <= caps.max_workgroup_count[2],
               Status::limit_exceeded, "dispatch of '", p.name(), "': workgroup count (", g.x, ",", g.y, ",", g.z,
               ") outside the device limit (", caps.max_workgroup_count[0], ",", caps.max_workgroup_count[1], ",",
               caps.max_workgroup_count[2], ")");

    std::vector<VkDescriptorBufferInfo> infos(bindings.size());
    std::vector<Range> reads, written;
    std::vector<VkWriteDescriptorSet> writes(bindings.size());
    VkDescriptorSet set = allocate_set(p.set_layout(), iface.n_bindings);
    for (size_t i = 0; i < bindings.size(); ++i) {
        const BufferView& b = bindings[i];
        VKRT_CHECK(b.buffer && *b.buffer, Status::internal, "dispatch of '", p.name(), "': binding ", i, " is empty");
        uint64_t bytes = b.bytes();
        VKRT_CHECK(b.offset + bytes <= b.buffer->size(), Status::internal, "dispatch of '", p.name(),
                   "': binding ", i, " range overruns buffer '", b.buffer->name(), "'");
        VKRT_CHECK(b.offset % std::max<uint64_t>(caps.min_storage_offset_alignment, 1) == 0, Status::internal,
                   "dispatch of '", p.name(), "': binding ", i, " offset ", b.offset,
                   " breaks minStorageBufferOffsetAlignment ", caps.min_storage_offset_alignment);
        VKRT_CHECK(bytes <= caps.max_storage_buffer_range, Status::limit_exceeded, "tensor '", b.buffer->name(),
                   "' (", bytes, " bytes) is larger than maxStorageBufferRange (", caps.max_storage_buffer_range,
                   " bytes) of ", caps.name, " and cannot be bound to '", p.name(), "'");
        infos[i] = {b.buffer->handle(), b.offset, bytes};
        reads.push_back({b.buffer->handle(), b.offset, b.offset + bytes});
        if (iface.writable_mask & (1u << i)) written.push_back(reads.back());
        else bytes_read_[size_t(b.buffer->byte_class())] += bytes;
        writes[i] = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
        writes[i].dstSet = set;
        writes[i].dstBinding = uint32_t(i);
        writes[i].descriptorCount = 1;
        writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        writes[i].pBufferInfo = &infos[i];
    }
    vkUpdateDescriptorSets(dev_->handle(), uint32_t(writes.size()), writes.data(), 0, nullptr);

    order(reads, written);
    Command c;
    c.kind = Command::Kind::dispatch;
    c.pipeline = &p;
    c.set = set;
    c.groups = g;
    c.push_size = uint32_t(push_size);
    if (profile_queries_ && profile_names_.size() < kMaxProfiled) {
        c.profile_slot = uint32_t(profile_names_.size());
        profile_names_.push_back(p.name());
    }
    const uint8_t* push_bytes = static_cast<const uint8_t*>(push);
    if (deferred_) {  // the push constants outlive the caller's struct
        c.push_offset = uint32_t(push_data_.size());
        push_data_.insert(push_data_.end(), push_bytes, push_bytes + push_size);
        push_bytes = nullptr;
    }
    const uint64_t local = local_memory(iface, g, caps.compute_units);
    if (deferred_) {
        record(c, local);
    } else {
        emit(cb_, c, push_bytes);
        local_total_ = local > UINT64_MAX - local_total_ ? UINT64_MAX : local_total_ + local;
        max_segment_local_ = local_total_;  // one command buffer
    }
    ++dispatches_;
}

uint64_t Recorder::local_memory(const ShaderInterface& iface, Groups g, uint32_t compute_units) {
    if (iface.shared_bytes == 0) return 0;
    auto pow2 = [](uint64_t v) {
        uint64_t r = 1;
        while (r < v) r <<= 1;
        return r;
    };
    // Saturating product: a grid of 2^31 workgroups in x alone times the rest would wrap.
    uint64_t bytes = pow2(std::max<uint32_t>(iface.shared_bytes, 128));
    for (uint64_t f : {pow2(g.x), pow2(g.y), pow2(g.z), uint64_t(std::max<uint32_t>(compute_units, 1))}) {
        if (bytes > UINT64_MAX / f) return UINT64_MAX;
        bytes *= f;
    }
    return bytes;
}

void Recorder::set_record_budget(uint64_t bytes) {
    VKRT_CHECK(!recording_, Status::internal, "set_record_budget while recording");
    budget_ = bytes;
}

void Recorder::record(const Command& c, uint64_t local) {
    // A new segment before a dispatch whose workgroup memory would take this one past the
    // budget (never before one without: it adds nothing; and never an empty one: a dispatch
    // above the budget on its own gets a segment of its own).
    if (c.kind == Command::Kind::dispatch) {
        if (local > 0 && segment_local_ > 0 && (local > budget_ || segment_local_ > budget_ - local)) {
            segment_starts_.push_back(commands_.size());
            segment_local_ = 0;
        }
        segment_local_ = local > UINT64_MAX - segment_local_ ? UINT64_MAX : segment_local_ + local;
        max_segment_local_ = std::max(max_segment_local_, segment_local_);
        local_total_ = local > UINT64_MAX - local_total_ ? UINT64_MAX : local_total_ + local;
    }
    commands_.push_back(c);
}

void Recorder::emit(VkCommandBuffer cb, const Command& c, const uint8_t* push_data) const {
    switch (c.kind) {
        case Command::Kind::dispatch: {
            const Pipeline& p = *c.pipeline;
            vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, p.handle());
            vkCmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, p.layout(), 0, 1, &c.set, 0, nullptr);
            if (c.push_size)
                vkCmdPushConstants(cb, p.layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0, c.push_size,
                                   push_data ? push_data : push_data_.data() + c.push_offset);
            const bool prof = c.profile_slot != ~0u;
            if (prof) vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, profile_queries_, 2 * c.profile_slot);
            vkCmdDispatch(cb, c.groups.x, c.groups.y, c.groups.z);
            if (prof)
                vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, profile_queries_, 2 * c.profile_slot + 1);
            break;
        }
        case Command::Kind::copy: {
            VkBufferCopy region{c.src_offset, c.dst_offset, c.bytes};
            vkCmdCopyBuffer(cb, c.src, c.dst, 1, &region);
            break;
        }
        case Command::Kind::fill: vkCmdFillBuffer(cb, c.dst, c.dst_offset, c.bytes, c.value); break;
        case Command::Kind::barrier: {
            VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
            mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
            mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                               VK_ACCESS_TRANSFER_WRITE_BIT;
            const VkPipelineStageFlags stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
            vkCmdPipelineBarrier(cb, stages, stages, 0, 1, &mb, 0, nullptr, 0, nullptr);
            break;
        }
        case Command::Kind::mark:
            if (queries_) vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_, c.slot);
            break;
    }
}

void Recorder::open(VkCommandBuffer cb, bool reset_queries) const {
    VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    VK_CHECK(vkBeginCommandBuffer(cb, &bi));
    if (!reset_queries) return;
    if (queries_) vkCmdResetQueryPool(cb, queries_, 0, kMaxMarks);
    if (profile_queries_) vkCmdResetQueryPool(cb, profile_queries_, 0, 2 * kMaxProfiled);
}

void Recorder::close(VkCommandBuffer cb) const {
    // Make the last writes visible to host reads after the fence.
    VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
    vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, nullptr, 0, nullptr);
    VK_CHECK(vkEndCommandBuffer(cb));
}

void Recorder::record_segment(size_t s) {
    const size_t first = segment_starts_[s];
    const size_t last = s + 1 < segment_starts_.size() ? segment_starts_[s + 1] : commands_.size();
    VK_CHECK(vkResetCommandBuffer(cb_, VK_COMMAND_BUFFER_RESET_RELEASE_RESOURCES_BIT));
    // The queries are reset by the first segment only: the later ones write the rest of them.
    open(cb_, s == 0);
    for (size_t i = first; i < last; ++i) emit(cb_, commands_[i], nullptr);
    close(cb_);
}

void Recorder::correct_read(const BufferView& view, uint64_t bytes) {
    const uint64_t bound = view.bytes();
    uint64_t& n = bytes_read_[size_t(view.buffer->byte_class())];
    VKRT_CHECK(bytes <= bound && n >= bound, Status::internal, "correct_read: ", bytes, " bytes of a ", bound,
               "-byte binding that was not counted");
    n -= bound - bytes;
}

void Recorder::copy(const BufferView& src, const BufferView& dst, uint64_t bytes) {
    VKRT_CHECK(recording_, Status::internal, "copy outside begin()/end()");
    VKRT_CHECK(src.offset + bytes <= src.buffer->size() && dst.offset + bytes <= dst.buffer->size(),
               Status::internal, "copy of ", bytes, " bytes overruns a buffer");
    const Range r{src.buffer->handle(), src.offset, src.offset + bytes};
    const Range w{dst.buffer->handle(), dst.offset, dst.offset + bytes};
    order(std::span<const Range>(&r, 1), std::span<const Range>(&w, 1));
    Command c;
    c.kind = Command::Kind::copy;
    c.src = src.buffer->handle();
    c.dst = dst.buffer->handle();
    c.src_offset = src.offset;
    c.dst_offset = dst.offset;
    c.bytes = bytes;
    if (deferred_) record(c, 0);
    else emit(cb_, c, nullptr);
}

void Recorder::fill(const BufferView& dst, uint32_t value) {
    VKRT_CHECK(recording_, Status::internal, "fill outside begin()/end()");
    const Range w{dst.buffer->handle(), dst.offset, dst.offset + dst.bytes()};
    order({}, std::span<const Range>(&w, 1));
    Command c;
    c.kind = Command::Kind::fill;
    c.dst = dst.buffer->handle();
    c.dst_offset = dst.offset;
    c.bytes = dst.range == VK_WHOLE_SIZE ? VK_WHOLE_SIZE : dst.range;
    c.value = value;
    if (deferred_) record(c, 0);
    else emit(cb_, c, nullptr);
}

void Recorder::barrier() {
    Command c;
    c.kind = Command::Kind::barrier;
    if (deferred_) record(c, 0);
    else emit(cb_, c, nullptr);
    pending_reads_.clear();
    pending_writes_.clear();
    ++barriers_;
}

void Recorder::order(std::span<const Range> reads, std::span<const Range> writes) {
    auto overlaps = [](const Range& a, const std::vector<Range>& set) {
        for (const Range& b : set)
            if (a.buffer == b.buffer && a.begin < b.end && b.begin < a.end) return true;
        return false;
    };
    bool hazard = false;
    for (const Range& r : reads) hazard = hazard || overlaps(r, pending_writes_);  // read after write
    for (const Range& w : writes)
        hazard = hazard || overlaps(w, pending_writes_) || overlaps(w, pending_reads_);  // WAW, WAR
    if (hazard) barrier();
    pending_reads_.insert(pending_reads_.end(), reads.begin(), reads.end());
    pending_writes_.insert(pending_writes_.end(), writes.begin(), writes.end());
}

void Recorder::mark(uint32_t slot) {
    VKRT_CHECK(slot < kMaxMarks, Status::internal, "timestamp slot ", slot, " >= ", kMaxMarks);
    Command c;
    c.kind = Command::Kind::mark;
    c.slot = slot;
    if (deferred_) record(c, 0);
    else emit(cb_, c, nullptr);
}

void Recorder::end() {
    VKRT_CHECK(recording_, Status::internal, "end() without begin()");
    if (!deferred_) close(cb_);
    else if (segment_starts_.size() == 1) record_segment(0);  // within the budget: recorded once, kept
    else streamed_ = true;                                      // recorded segment by segment at submit()
    recording_ = false;
    recorded_ = true;
}

void Recorder::submit() {
    VKRT_CHECK(recorded_ && !recording_, Status::internal, "submit() needs begin() ... end() first");
    if (!streamed_) {
        dev_->submit_and_wait(cb_);
        return;
    }
    // One segment at a time: recorded, submitted, waited for, and its command buffer's
    // memory released before the next is recorded, so the driver never holds more than one
    // segment's workgroup memory for this recorder.
    for (size_t s = 0; s < segment_starts_.size(); ++s) {
        record_segment(s);
        dev_->submit_and_wait(cb_);
    }
    VK_CHECK(vkResetCommandBuffer(cb_, VK_COMMAND_BUFFER_RESET_RELEASE_RESOURCES_BIT));
}

std::vector<Recorder::ProfileEntry> Recorder::profile() const {
    std::vector<ProfileEntry> out;
    if (!profile_queries_ || profile_names_.empty()) return out;
    std::vector<uint64_t> ts(profile_names_.size() * 2);
    VK_CHECK(vkGetQueryPoolResults(dev_->handle(), profile_queries_, 0, uint32_t(ts.size()), ts.size() * 8, ts.data(),
                                   8, VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT));
    for (size_t i = 0; i < profile_names_.size(); ++i) {
        double s = double(ts[2 * i + 1] - ts[2 * i]) * dev_->caps().timestamp_period_ns * 1e-9;
        auto it = std::find_if(out.begin(), out.end(), [&](const ProfileEntry& e) { return e.name == profile_names_[i]; });
        if (it == out.end()) out.push_back({profile_names_[i], s, 1});
        else { it->seconds += s; ++it->count; }
    }
    std::sort(out.begin(), out.end(), [](const ProfileEntry& a, const ProfileEntry& b) { return a.seconds > b.seconds; });
    return out;
}

double Recorder::seconds_between(uint32_t a, uint32_t b) const {
    if (!queries_ || a >= kMaxMarks || b >= kMaxMarks) return -1;
    uint64_t ta = 0, tb = 0;
    if (vkGetQueryPoolResults(dev_->handle(), queries_, a, 1, sizeof ta, &ta, sizeof ta, VK_QUERY_RESULT_64_BIT) !=
            VK_SUCCESS ||
        vkGetQueryPoolResults(dev_->handle(), queries_, b, 1, sizeof tb, &tb, sizeof tb, VK_QUERY_RESULT_64_BIT) !=
            VK_SUCCESS)
        return -1;
    return double(tb - ta) * dev_->caps().timestamp_period_ns * 1e-9;
}

BufferView Recorder::workspace(uint64_t bytes) {
    bytes = std::max<uint64_t>((bytes + 3) & ~uint64_t(3), 4);
    if (workspaces_.empty() || workspaces_.back().size() < bytes)
        workspaces_.emplace_back(*dev_, bytes, MemoryKind::device, "recorder workspace");
    return BufferView(workspaces_.back(), 0, bytes);
}

}  // namespace vkrt
