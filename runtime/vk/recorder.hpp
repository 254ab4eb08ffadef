// Recorder: the one place that records compute work. It binds a pipeline,
// writes the descriptor set, pushes constants (checked against the size the
// shader declares), dispatches, and places the barriers between dependent
// dispatches: it tracks the buffer ranges read and written since the last
// barrier (which bindings a shader writes comes from its SPIR-V: `readonly`
// buffers are NonWritable) and places a barrier only before work that reads
// what was written, or writes what was read or written (independent work, such
// as the Q/K/V projections of one input, runs without one). A recorded command buffer can be submitted again and again
// (decode reuses one per token; per-token values live in buffers, not in push
// constants).
//
// A recorder owns its command pool, command buffer and descriptor pools, so
// recorders on different threads need no locks; one recorder serves one thread
// at a time. Submits go through Device, which locks the queue.
//
// Bounded command buffers: where the driver allocates each dispatch's workgroup memory and
// keeps it until the command buffer is reset (Capabilities::local_memory_per_dispatch: Mali),
// what one command buffer holds grows with the recorded work; a 1B's prefill pass would
// hold gigabytes (docs/GPU.md). With a budget (Capabilities::record_budget, or
// set_record_budget) the recorder keeps the recorded commands on the host and, when the
// estimated workgroup memory of the whole pass (local_memory) exceeds the budget, cuts it
// into segments that each stay within it (a dispatch larger than the budget gets a segment
// of its own); submit() then records each segment into the command buffer, submits it,
// waits and releases it before the next. The barriers are the same commands in the same
// submission order as in one command buffer (a barrier's scope spans earlier submissions on
// the queue), so the results are identical; what it costs is a submit-and-wait per segment
// and recording at every submit. A pass within the budget is recorded once at end(), as
// without one.
#pragma once
#include <vulkan/vulkan.h>

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "vk/buffer.hpp"
#include "vk/handle.hpp"

namespace vkrt {

class Device;
class Pipeline;
struct ShaderInterface;

struct Groups {
    uint32_t x = 1, y = 1, z = 1;
};
inline uint32_t div_up(uint64_t a, uint64_t b) { return uint32_t((a + b - 1) / b); }

class Recorder {
public:
    explicit Recorder(Device& dev);
    ~Recorder();
    Recorder(const Recorder&) = delete;
    Recorder& operator=(const Recorder&) = delete;

    Device& device() const { return *dev_; }

    // Start recording (drops what was recorded before and its descriptor sets).
    void begin();
    // Bind + push + dispatch. A barrier (compute/transfer writes -> reads and writes)
    // is placed before it when it depends on work recorded since the last barrier.
    template <typename PC>
    void dispatch(const Pipeline& p, std::initializer_list<BufferView> bindings, const PC& pc, Groups g) {
        static_assert(std::is_trivially_copyable_v<PC>, "push constants must be plain data");
        dispatch_raw(p, std::span<const BufferView>(bindings.begin(), bindings.size()), &pc, sizeof(PC), g);
    }
    void dispatch(const Pipeline& p, std::initializer_list<BufferView> bindings, Groups g) {
        dispatch_raw(p, std::span<const BufferView>(bindings.begin(), bindings.size()), nullptr, 0, g);
    }
    void dispatch_raw(const Pipeline& p, std::span<const BufferView> bindings, const void* push, size_t push_size,
                      Groups g);
    void copy(const BufferView& src, const BufferView& dst, uint64_t bytes);
    void fill(const BufferView& dst, uint32_t value);
    void barrier();
    // GPU timestamps around recorded work (if the queue supports them): mark(i) writes slot i.
    void mark(uint32_t slot);
    void end();

    // Submit what was recorded and wait. May be called many times after one end().
    void submit();
    // Seconds between two marks of the last submit (needs timestamps; else -1).
    double seconds_between(uint32_t a, uint32_t b) const;
    uint32_t dispatch_count() const { return dispatches_; }
    uint32_t barrier_count() const { return barriers_; }
    // What the recorded work reads: bytes of every read-only binding of every dispatch, by
    // the bound buffer's ByteClass (a bound range counts whole: a KV cache bound for
    // attention counts all its rows, not only those the shader reaches at a position).
    uint64_t bytes_read(ByteClass c) const { return bytes_read_[size_t(c)]; }
    // The last dispatch reads only `bytes` of the read-only binding `view` (a kernel whose
    // reach depends on data, as the embedding's rows of ids): the counts take that instead.
    void correct_read(const BufferView& view, uint64_t bytes);

    // Per-pipeline GPU time of the last submit (VKRT_PROFILE=1 when the recorder was
    // created): name -> (seconds, dispatches). Empty when profiling is off.
    struct ProfileEntry {
        std::string name;
        double seconds;
        uint32_t count;
    };
    std::vector<ProfileEntry> profile() const;

    // The descriptor pools of what was recorded since begin(): the counts each was created
    // with and what the recorded sets took from it. A set never takes more than its pool's
    // counts (a spec-following driver refuses it: VK_ERROR_OUT_OF_POOL_MEMORY), and
    // pool_refusals() counts the sets a driver refused although they fitted (expected 0).
    struct DescriptorPoolUse {
        uint32_t max_sets, max_descriptors;  // storage-buffer descriptors, the one type used
        uint32_t sets, descriptors;
    };
    const std::vector<DescriptorPoolUse>& descriptor_pools() const { return pool_use_; }
    uint32_t pool_refusals() const { return pool_refusals_; }

    // ---- bounded command buffers (see the top of this file)
    // The workgroup memory a driver that allocates it per dispatch holds for one dispatch of
    // `iface` over `g` workgroups with `compute_units` cores (Mesa 25.0's panvk:
    // pow2(max(shared, 128)) x pow2(x) x pow2(y) x pow2(z) x cores; 0 without shared
    // memory), saturating at UINT64_MAX.
    static uint64_t local_memory(const ShaderInterface& iface, Groups g, uint32_t compute_units);
    // The budget of the recordings that follow (before begin(); the device's
    // Capabilities::record_budget by default, 0 = unbounded: one command buffer a pass).
    void set_record_budget(uint64_t bytes);
    uint64_t record_budget() const { return budget_; }
    // What was recorded since begin(): the estimated workgroup memory of the whole pass, the
    // command buffers it is submitted in (1 unless it exceeds the budget), and the largest
    // estimate among them.
    uint64_t local_bytes() const { return local_total_; }
    uint32_t segments() const { return uint32_t(segment_starts_.empty() ? 1 : segment_starts_.size()); }
    uint64_t max_segment_local_bytes() const { return max_segment_local_; }

    // ---- workspace: device memory for intermediate results of recorded work (split-K
    // partial sums, ops/matmul.cpp), `bytes` at least, alive until the next begin() (or
    // the recorder's end of life), so a recorded command buffer can be submitted again.
    // Every call returns the same buffer while it is large enough (a larger request
    // allocates a new one and keeps the old one for the work already recorded): work
    // that uses it is ordered by the same read/write tracking as any other buffer.
    BufferView workspace(uint64_t bytes);

private:
    VkDescriptorSet allocate_set(VkDescriptorSetLayout layout, uint32_t n_descriptors);
    // One recorded command, kept on the host when the recorder has a budget.
    struct Command {
        enum class Kind : uint8_t { dispatch, copy, fill, barrier, mark } kind = Kind::barrier;
        const Pipeline* pipeline = nullptr;  // dispatch
        VkDescriptorSet set = VK_NULL_HANDLE;
        uint32_t push_offset = 0, push_size = 0;  // into push_data_
        Groups groups;
        uint32_t profile_slot = ~0u;  // its pair of profile queries, or none
        VkBuffer src = VK_NULL_HANDLE, dst = VK_NULL_HANDLE;  // copy, fill
        uint64_t src_offset = 0, dst_offset = 0, bytes = 0;   // fill: bytes = VK_WHOLE_SIZE or a range
        uint32_t value = 0;  // fill
        uint32_t slot = 0;   // mark
    };
    // Keeps `c` (a recording with a budget), starting a new segment first where its
    // workgroup memory `local` would take the current one past the budget.
    void record(const Command& c, uint64_t local);
    void emit(VkCommandBuffer cb, const Command& c, const uint8_t* push_data) const;
    void open(VkCommandBuffer cb, bool reset_queries) const;  // vkBeginCommandBuffer (+ the query resets)
    void close(VkCommandBuffer cb) const;  // the host-read barrier + vkEndCommandBuffer
    void record_segment(size_t s);         // segment s of commands_ into cb_, opened and closed
    struct Range {
        VkBuffer buffer;
        uint64_t begin, end;
    };
    // Places a barrier if `reads`/`writes` conflict with what ran since the last one,
    // then records them as pending.
    void order(std::span<const Range> reads, std::span<const Range> writes);

    Device* dev_;
    vk::Unique<VkCommandPool> pool_;  // this recorder's own (declared first: destroyed after cb_)
    vk::Unique<VkCommandBuffer> cb_;
    std::vector<vk::Unique<VkDescriptorPool>> pools_;
    std::vector<DescriptorPoolUse> pool_use_;  // one per pool, reset by begin()
    size_t pool_index_ = 0;
    uint32_t pool_refusals_ = 0;
    vk::Unique<VkQueryPool> queries_;
    vk::Unique<VkQueryPool> profile_queries_;  // two per dispatch when VKRT_PROFILE=1
    std::vector<std::string> profile_names_;
    static constexpr uint32_t kMaxProfiled = 4096;
    static constexpr uint32_t kMaxMarks = 64;
    bool recording_ = false, recorded_ = false;
    std::vector<Range> pending_reads_, pending_writes_;  // since the last barrier
    uint32_t dispatches_ = 0, barriers_ = 0;
    uint64_t bytes_read_[kByteClasses] = {};
    std::vector<Buffer> workspaces_;  // the last one is current; older ones live until begin()
    uint64_t budget_ = 0;
    bool deferred_ = false;  // this recording keeps its commands (budget_ > 0 at begin())
    bool streamed_ = false;  // more than one segment: recorded segment by segment at submit()
    std::vector<Command> commands_;
    std::vector<uint8_t> push_data_;
    std::vector<size_t> segment_starts_;  // index into commands_ of each segment's first
    uint64_t segment_local_ = 0, max_segment_local_ = 0, local_total_ = 0;
};

}  // namespace vkrt
