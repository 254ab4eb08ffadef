// Device layer: selection, capabilities, buffers, recorder, pipeline cache, limits.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>
#include <functional>
#include <memory>
#include <filesystem>

#include "gpu.hpp"
#include "ops/elementwise.hpp"
#include "ops/norm.hpp"
#include "test_util.hpp"
#include "vk/pipeline.hpp"
#include "vk/shaders.hpp"

using namespace vkrt;

TEST_CASE("device: lists devices and reports capabilities") {
    auto list = Device::list();
    REQUIRE(!list.empty());
    Device& dev = test::gpu();
    const Capabilities& c = dev.caps();
    CHECK(!c.name.empty());
    CHECK(c.max_storage_buffer_range > 0);
    CHECK(c.shared_memory >= 16384);
    CHECK(c.subgroup_size > 0);
    std::string r = c.report();
    CHECK(r.find("integer dot product") != std::string::npos);
    CHECK(r.find("maxStorageBufferRange") != std::string::npos);
    CHECK_NO_VALIDATION(dev);
}

TEST_CASE("device: selection by index and by name substring, bad selection names the devices") {
    auto list = Device::list();
    DeviceOptions o;
    o.pipeline_cache = "off";
    o.select = "0";
    Device by_index(o);
    CHECK(by_index.caps().name == list[0].name);
    o.select = list[0].name.substr(0, 4);
    Device by_name(o);
    CHECK(by_name.caps().name.find(list[0].name.substr(0, 4)) != std::string::npos);
    o.select = "no-such-gpu-xyz";
    CHECK_THROWS_WITH_AS(Device{o}, doctest::Contains("matches no device"), vkrt::Error);
    o.select = "99";
    CHECK_THROWS_AS(Device{o}, vkrt::Error);
}

TEST_CASE("device: describe_all reports every device from one instance, as a Device of it reports itself") {
    // vkrt-bench --devices: no logical device, one instance (panvk crashed on a second one).
    DeviceOptions o = DeviceOptions::from_env();
    o.pipeline_cache = "off";
    auto all = Device::describe_all(o);
    auto list = Device::list();
    REQUIRE(all.size() == list.size());
    for (size_t i = 0; i < all.size(); ++i) {
        CHECK(all[i].info.index == i);
        CHECK(all[i].info.name == list[i].name);
        if (!all[i].usable) continue;
        o.select = std::to_string(i);
        Device dev(o);
        CHECK(all[i].report == dev.caps().report());
    }
    CHECK(std::any_of(all.begin(), all.end(), [](const Device::Description& d) { return d.usable; }));
    // The report follows the options as a Device's does (a forced-off path says so).
    o.disable_fp16 = true;
    auto forced = Device::describe_all(o);
    for (const auto& d : forced)
        if (d.usable) CHECK(d.report.find("shaderFloat16:           no") != std::string::npos);
}

TEST_CASE("device: forced-off capability paths") {
    Device& dev = test::gpu_with(true, true, true);
    CHECK_FALSE(dev.caps().int_dot);
    CHECK_FALSE(dev.caps().fp16);
    CHECK_FALSE(dev.caps().subgroup);
}

TEST_CASE("device: shader-statistics mode records every pipeline asked for, with its compile status") {
    // vkrt-bench --shader-stats (docs/GPU.md) reads these records: one per distinct
    // variant + specialization, in request order; a failed compile is recorded and rethrown,
    // and asking again fails at once with the same message.
    DeviceOptions o = DeviceOptions::from_env();
    o.shader_stats = true;
    o.pipeline_cache = "off";
    Device dev(o);
    dev.pipeline(spv::Variant::add, {64});
    dev.pipeline(spv::Variant::add, {64});   // cached: no second record
    dev.pipeline(spv::Variant::scale, {32});
    auto recs = dev.pipeline_records();
    REQUIRE(recs.size() == 2);
    CHECK(recs[0].key == "add:64");
    CHECK(recs[0].variant == "add");
    CHECK(recs[0].spec == std::vector<uint32_t>{64});
    CHECK(recs[0].status == PipelineRecord::Status::ok);
    CHECK(recs[1].key == "scale:32");
    // Statistics where the driver has VK_KHR_pipeline_executable_properties.
    if (dev.capture_statistics()) CHECK_FALSE(recs[0].stats.empty());
    // A pipeline that cannot be built (here: a workgroup over every device's limit) is
    // recorded as an error and rethrown; asked again, it fails at once with the same
    // message and no new record.
    CHECK_THROWS_WITH_AS(dev.pipeline(spv::Variant::add, {1u << 20}), doctest::Contains("'add'"), vkrt::Error);
    recs = dev.pipeline_records();
    REQUIRE(recs.size() == 3);
    CHECK(recs[2].status == PipelineRecord::Status::error);
    CHECK(recs[2].error.find("maxComputeWorkGroupInvocations") != std::string::npos);
    CHECK_THROWS_WITH_AS(dev.pipeline(spv::Variant::add, {1u << 20}), doctest::Contains("'add'"), vkrt::Error);
    CHECK(dev.pipeline_records().size() == 3);
    CHECK_NO_VALIDATION(dev);
}

TEST_CASE("buffer: upload / download round trip and bounds") {
    Device& dev = test::gpu();
    auto v = test::random_floats(1000, 1);
    Buffer b = make_buffer(dev, v, "roundtrip");
    auto back = b.download_as<float>(1000);
    CHECK(back == v);
    std::vector<float> four{1, 2, 3, 4};
    b.upload(four.data(), 16, 400);
    CHECK(b.download_as<float>(4, 400) == four);
    CHECK_THROWS_AS(b.upload(four.data(), 16, 3998), vkrt::Error);
    CHECK_NO_VALIDATION(dev);
}

TEST_CASE("recorder: add kernel, reuse of a recorded command buffer, push-constant check") {
    Device& dev = test::gpu();
    const uint32_t n = 70001;  // not a multiple of the workgroup
    auto a = test::random_floats(n, 2), b = test::random_floats(n, 3);
    Buffer ba = make_buffer(dev, a, "a"), bb = make_buffer(dev, b, "b");
    Buffer out(dev, n * 4, MemoryKind::device, "out");
    Recorder rec(dev);
    rec.begin();
    ops::add(rec, ba, bb, out, n);
    ops::add(rec, out, bb, out, n);  // depends on the first: needs the barrier
    rec.end();
    rec.submit();
    auto o = out.download_as<float>(n);
    for (uint32_t i = 0; i < n; ++i) REQUIRE(o[i] == (a[i] + b[i]) + b[i]);
    // Submit the same command buffer again with new input data.
    auto a2 = test::random_floats(n, 4);
    ba.upload(std::span<const float>(a2));
    rec.submit();
    o = out.download_as<float>(n);
    for (uint32_t i = 0; i < n; ++i) REQUIRE(o[i] == (a2[i] + b[i]) + b[i]);

    // Wrong push-constant size or binding count is refused before reaching the driver.
    rec.begin();
    const Pipeline& p = dev.pipeline(spv::Variant::add, {64});
    struct { uint32_t n, extra; } bad{n, 0};
    CHECK_THROWS_WITH_AS(rec.dispatch(p, {ba, bb, out}, bad, Groups{1, 1, 1}), doctest::Contains("push constants"),
                         vkrt::Error);
    struct { uint32_t n; } good{n};
    CHECK_THROWS_WITH_AS(rec.dispatch(p, {ba, bb}, good, Groups{1, 1, 1}), doctest::Contains("buffers bound"),
                         vkrt::Error);
    rec.end();
    // An operand too small for the shape is refused with the operand's name.
    rec.begin();
    CHECK_THROWS_WITH_AS(ops::add(rec, ba, bb, out, n + 1), doctest::Contains("operand 'a'"), vkrt::Error);
    rec.end();
    CHECK_NO_VALIDATION(dev);
}

TEST_CASE("limits: a binding over maxStorageBufferRange is refused naming the limit") {
    Device& dev = test::gpu();
    uint64_t limit = dev.caps().max_storage_buffer_range;
    if (limit + 4 > dev.caps().max_allocation_size || limit > (1ull << 31)) {
        MESSAGE("device range limit too large to allocate past here; checked on smaller devices");
        return;
    }
    Buffer big(dev, limit + 4096, MemoryKind::device, "big tensor");
    Buffer small(dev, 1024, MemoryKind::device, "small");
    Recorder rec(dev);
    rec.begin();
    CHECK_THROWS_WITH_AS(ops::add(rec, big, small, small, 4), doctest::Contains("maxStorageBufferRange"),
                         vkrt::Error);
    rec.end();
    CHECK_NO_VALIDATION(dev);
}

TEST_CASE("reflection: every embedded shader reflects, and its push block matches what spirv declares") {
    for (const auto& s : spv::all_shaders()) {
        ShaderInterface i = reflect_spirv(s.words, s.size, s.name);
        CHECK_MESSAGE(i.n_bindings >= 1, s.name);
        CHECK_MESSAGE(i.push_size % 4 == 0, s.name);
    }
}

TEST_CASE("variants: every enumerator names its own SPIR-V, and a name maps back only where the build has it") {
    // all_shaders() is indexed by spv::Variant; variant_from_name is the only way from text.
    const auto all = spv::all_shaders();
    REQUIRE(all.size() == spv::kVariants);
    for (size_t i = 0; i < all.size(); ++i) {
        const auto v = static_cast<spv::Variant>(i);
        CHECK(std::string(spv::variant_name(v)) == all[i].name);
        CHECK(spv::shader(v).words == all[i].words);
        CHECK(spv::variant_from_name(all[i].name) == v);
    }
    CHECK(spv::variant_from_name("add") == spv::Variant::add);
    CHECK_FALSE(spv::variant_from_name("no_such_kernel_xyz").has_value());
    CHECK_FALSE(spv::variant_from_name("").has_value());
}

TEST_CASE("pipeline cache: saved on destruction, loaded by the next device") {
    std::string path = test::tmp_dir() + "/pipeline_cache_test.bin";
    std::filesystem::remove(path);
    DeviceOptions o = DeviceOptions::from_env();
    o.pipeline_cache = path;
    {
        Device d1(o);
        CHECK(d1.pipeline_cache_loaded_bytes() == 0);
        d1.pipeline(spv::Variant::add, {64});
    }
    REQUIRE(std::filesystem::exists(path));
    CHECK(std::filesystem::file_size(path) >= 32);  // header + data (lavapipe stores only the header)
    Device d2(o);
    CHECK(d2.pipeline_cache_loaded_bytes() == std::filesystem::file_size(path));
}

TEST_CASE("recorder: barriers only between dependent work (readonly bindings come from the SPIR-V)") {
    Device& dev = test::gpu();
    const uint32_t n = 4096;
    auto a = test::random_floats(n, 21), b = test::random_floats(n, 22);
    Buffer ba = make_buffer(dev, a, "a"), bb = make_buffer(dev, b, "b");
    Buffer o1(dev, n * 4, MemoryKind::device, "o1"), o2(dev, n * 4, MemoryKind::device, "o2");
    const ShaderInterface& iface = dev.pipeline(spv::Variant::add, {64}).interface();
    CHECK(iface.writable_mask == 0b100u);  // a, b readonly; out written
    Recorder rec(dev);
    rec.begin();
    ops::add(rec, ba, bb, o1, n);  // o1 = a + b
    ops::add(rec, ba, bb, o2, n);  // o2 = a + b: independent of the first
    CHECK(rec.barrier_count() == 0);
    ops::add(rec, o1, o2, o1, n);  // reads both outputs: needs a barrier
    CHECK(rec.barrier_count() == 1);
    ops::add(rec, ba, bb, o2, n);  // overwrites o2 that the previous one read: WAR barrier
    CHECK(rec.barrier_count() == 2);
    rec.end();
    rec.submit();
    auto r1 = o1.download_as<float>(n), r2 = o2.download_as<float>(n);
    for (uint32_t i = 0; i < n; ++i) {
        REQUIRE(r1[i] == (a[i] + b[i]) + (a[i] + b[i]));
        REQUIRE(r2[i] == a[i] + b[i]);
    }
    CHECK_NO_VALIDATION(dev);  // synchronization validation is on with VKRT_VALIDATION=1
}

TEST_CASE("recorder: descriptor sets never take more than their pool holds (turnip refuses them, lavapipe does not)") {
    // 700 dependent adds: more sets than one pool holds. A spec-following driver refuses a set
    // past the pool's maxSets or descriptor counts (VK_ERROR_OUT_OF_POOL_MEMORY, a validation
    // message on Adreno); lavapipe hands them out, so the counts are checked here instead.
    Device& dev = test::gpu();
    const uint32_t n = 64, steps = 700;
    auto a = test::random_floats(n, 31), b = test::random_floats(n, 32);
    Buffer ba = make_buffer(dev, a, "a"), bb = make_buffer(dev, b, "b");
    Buffer out(dev, n * 4, MemoryKind::device, "out");
    const uint32_t per_set = dev.pipeline(spv::Variant::add, {64}).interface().n_bindings;
    Recorder rec(dev);
    for (int round = 0; round < 2; ++round) {  // the second reuses the pools begin() reset
        rec.begin();
        ops::add(rec, ba, bb, out, n);
        for (uint32_t s = 1; s < steps; ++s) ops::add(rec, out, bb, out, n);
        rec.end();
        rec.submit();
        const auto& pools = rec.descriptor_pools();
        CHECK(pools.size() >= 2);
        uint64_t sets = 0, descriptors = 0;
        for (const auto& p : pools) {
            CHECK(p.sets <= p.max_sets);
            CHECK(p.descriptors <= p.max_descriptors);
            sets += p.sets;
            descriptors += p.descriptors;
        }
        CHECK(sets == steps);
        CHECK(descriptors == uint64_t(steps) * per_set);
        CHECK(rec.pool_refusals() == 0);
        // Every dispatch read the set it was given, whichever pool it came from.
        auto o = out.download_as<float>(n);
        for (uint32_t i = 0; i < n; ++i) {
            float want = a[i] + b[i];
            for (uint32_t s = 1; s < steps; ++s) want += b[i];
            REQUIRE(o[i] == want);
        }
    }
    CHECK_NO_VALIDATION(dev);
}

TEST_CASE("recorder: the workgroup-memory estimate of a dispatch (panvk's per-dispatch allocation)") {
    ShaderInterface iface;
    CHECK(Recorder::local_memory(iface, {1000, 1, 1}, 4) == 0);  // no shared memory: nothing
    iface.shared_bytes = 100;  // -> 128 (the minimum), grid 3 x 1 x 5 -> 4 x 1 x 8, 4 cores
    CHECK(Recorder::local_memory(iface, {3, 1, 5}, 4) == 128u * 4 * 8 * 4);
    iface.shared_bytes = 8192;  // a power of two stays: the 1B's 8-column GEMV on the G610
    CHECK(Recorder::local_memory(iface, {4096, 1, 1}, 4) == 8192ull * 4096 * 4);
    iface.shared_bytes = 65536;  // saturates instead of wrapping
    CHECK(Recorder::local_memory(iface, {0x7fffffffu, 65535, 65535}, 1u << 20) == UINT64_MAX);
}

TEST_CASE("recorder: a pass over the command-buffer budget runs in segments with the same results") {
    // Mali's drivers allocate each dispatch's workgroup memory per command buffer; a pass over
    // Capabilities::record_budget is recorded in segments, submitted one at a time. lavapipe
    // allocates nothing per dispatch, so the budget is forced here (the same code path as
    // on the G610, where a 1B's prefill otherwise fails with VK_ERROR_OUT_OF_DEVICE_MEMORY).
    Device& dev = test::gpu();
    const uint32_t M = 4, K = 256, steps = 12;
    auto x0 = test::random_floats(M * K, 41), w = test::random_floats(K, 42), b = test::random_floats(M * K, 43);
    Buffer bx0 = make_buffer(dev, x0, "x0"), bw = make_buffer(dev, w, "w"), bb = make_buffer(dev, b, "b");
    Buffer cur(dev, M * K * 4, MemoryKind::device, "cur"), tmp(dev, M * K * 4, MemoryKind::device, "tmp");
    // cur = x0; steps x (tmp = rmsnorm(cur) * w; cur = tmp + b): every dispatch depends on the
    // one before, across every segment boundary. The copy makes each submit start afresh.
    auto record = [&](Recorder& rec) {
        rec.begin();
        rec.copy(bx0, cur, M * K * 4);
        for (uint32_t s = 0; s < steps; ++s) {
            ops::rmsnorm(rec, cur, bw, tmp, M, K, 1e-5f);
            ops::add(rec, tmp, bb, cur, M * K);
        }
        rec.end();
    };
    Recorder whole(dev);
    whole.set_record_budget(0);
    record(whole);
    whole.submit();
    const auto want = cur.download_as<float>(M * K);
    CHECK(whole.segments() == 1);
    const uint64_t per_norm = whole.local_bytes() / steps;  // the adds have no shared memory
    REQUIRE(per_norm > 0);
    REQUIRE(whole.local_bytes() == per_norm * steps);

    for (const uint64_t budget : {3 * per_norm, per_norm + 1, per_norm / 2}) {
        CAPTURE(budget);
        Recorder rec(dev);
        rec.set_record_budget(budget);
        record(rec);
        // A segment holds as many norms as fit (at least one: a dispatch over the budget
        // gets a segment of its own).
        const uint64_t per_segment = std::max<uint64_t>(budget / per_norm, 1);
        CHECK(rec.segments() == (steps + per_segment - 1) / per_segment);
        CHECK(rec.max_segment_local_bytes() == per_segment * per_norm);
        CHECK(rec.local_bytes() == whole.local_bytes());
        CHECK(rec.dispatch_count() == whole.dispatch_count());
        CHECK(rec.barrier_count() == whole.barrier_count());
        for (int round = 0; round < 2; ++round) {  // submitted again: recorded again, segment by segment
            cur.upload(std::vector<float>(M * K, 0.0f).data(), M * K * 4);
            rec.submit();
            const auto got = cur.download_as<float>(M * K);
            for (uint32_t i = 0; i < M * K; ++i) REQUIRE(got[i] == want[i]);
        }
    }
    // Within the budget: one command buffer, recorded once at end().
    Recorder fits(dev);
    fits.set_record_budget(whole.local_bytes());
    record(fits);
    CHECK(fits.segments() == 1);
    fits.submit();
    const auto got = cur.download_as<float>(M * K);
    for (uint32_t i = 0; i < M * K; ++i) REQUIRE(got[i] == want[i]);
    CHECK_NO_VALIDATION(dev);
}

// ---------------------------------------------------------------- device limits

namespace {
// A device with the simulated minimum limits (VKRT_LIMITS=min) and the environment's other options.
Device& min_limits_device() {
    static std::unique_ptr<Device> d;
    if (!d) {
        DeviceOptions o = DeviceOptions::from_env();
        o.pipeline_cache = "off";
        o.min_limits = true;
        d = std::make_unique<Device>(o);
    }
    return *d;
}

// ops::add of n random floats (seeds seed, seed + 1) on `dev`, checked exactly.
void check_add(Device& dev, uint32_t n, uint32_t seed) {
    auto a = test::random_floats(n, seed), b = test::random_floats(n, seed + 1);
    Buffer ba = make_buffer(dev, a, "a"), bb = make_buffer(dev, b, "b");
    Buffer out(dev, n * 4, MemoryKind::device, "out");
    test::run(dev, [&](Recorder& rec) { ops::add(rec, ba, bb, out, n); });
    auto o = out.download_as<float>(n);
    for (uint32_t i = 0; i < n; ++i) REQUIRE(o[i] == a[i] + b[i]);
}

void expect_limit_error(const std::function<void()>& fn, std::initializer_list<const char*> needles) {
    try {
        fn();
        FAIL("expected a limit_exceeded error");
    } catch (const Error& e) {
        CHECK_MESSAGE(e.status() == Status::limit_exceeded, e.what());
        for (const char* n : needles)
            CHECK_MESSAGE(std::string(e.what()).find(n) != std::string::npos, "message: ", e.what(), "\nexpected: ", n);
    }
}
}  // namespace

TEST_CASE("limits: VKRT_LIMITS=min gives the minimum limits of a low-end phone, never above the device's") {
    Device& real = test::gpu();
    Device& dev = min_limits_device();
    const Capabilities& c = dev.caps();
    CHECK(c.min_limits);
    CHECK(c.max_workgroup_invocations == std::min(128u, real.caps().max_workgroup_invocations));
    CHECK(c.max_workgroup_size[0] <= 128);
    CHECK(c.max_workgroup_size[2] <= 64);
    CHECK(c.shared_memory == std::min(16384u, real.caps().shared_memory));
    CHECK(c.max_storage_buffer_range == std::min<uint64_t>(128ull << 20, real.caps().max_storage_buffer_range));
    CHECK(c.max_binding_bytes <= (128ull << 20));
    CHECK(c.max_push_constants <= 128);
    CHECK(c.max_storage_buffers <= 8);
    CHECK(c.min_storage_offset_alignment >= 256);
    for (int i = 0; i < 3; ++i) CHECK(c.max_workgroup_count[i] <= 65535);
    CHECK(c.report().find("VKRT_LIMITS=min") != std::string::npos);
    // The environment variable: min and device only.
    ::setenv("VKRT_LIMITS", "min", 1);
    CHECK(DeviceOptions::from_env().min_limits);
    ::setenv("VKRT_LIMITS", "device", 1);
    CHECK_FALSE(DeviceOptions::from_env().min_limits);
    ::setenv("VKRT_LIMITS", "tiny", 1);
    CHECK_THROWS_WITH_AS(DeviceOptions::from_env(), doctest::Contains("VKRT_LIMITS"), vkrt::Error);
    if (real.caps().min_limits) ::setenv("VKRT_LIMITS", "min", 1);
    else ::unsetenv("VKRT_LIMITS");
    CHECK_NO_VALIDATION(dev);
}

TEST_CASE("limits: bindings are capped below 2 GiB whatever maxStorageBufferRange says") {
    // 2 GiB bindings broke on an H100 that reports 4 GiB (../shared/ANCHORS.md).
    static_assert(kMaxBindingRange < (uint64_t(2) << 30));
    CHECK(usable_binding_range(0xffffffffull) == (uint64_t(1) << 30));  // the H100's 4 GiB - 1
    CHECK(usable_binding_range(uint64_t(2) << 30) == (uint64_t(1) << 30));
    CHECK(usable_binding_range(128ull << 20) == (128ull << 20));       // smaller limits stay
    Device& dev = test::gpu();
    VkPhysicalDeviceProperties props;
    vkGetPhysicalDeviceProperties(dev.physical(), &props);
    if (!dev.caps().min_limits)
        CHECK(dev.caps().max_storage_buffer_range == usable_binding_range(props.limits.maxStorageBufferRange));
    CHECK(dev.caps().max_storage_buffer_range <= kMaxBindingRange);
    CHECK(dev.caps().max_binding_bytes <= kMaxBindingRange);
    CHECK(dev.caps().report().find("vkrt uses at most") != std::string::npos);
}

TEST_CASE("reflection: workgroup size and shared memory follow the specialization constants") {
    auto reflect = [](spv::Variant v, std::vector<uint32_t> spec) {
        const spv::ShaderBlob& b = spv::shader(v);
        return reflect_spirv(b.words, b.size, b.name, spec);
    };
    // rmsnorm_shared: red[L] floats.
    for (uint32_t L : {32u, 64u, 256u}) {
        const ShaderInterface i = reflect(spv::Variant::rmsnorm_shared, {L});
        CHECK(i.local_size_from_spec);
        CHECK(i.local_size[0] == L);
        CHECK(i.invocations() == L);
        CHECK(i.shared_bytes == 4 * L);
    }
    CHECK(reflect(spv::Variant::add, {}).shared_bytes == 0);
    // matmul.comp: xs[32 * (BM + 1)] and ws[32 * (BN + 1)] floats (spec ids L, BM, BN, TM, TN).
    const ShaderInterface g = reflect(spv::Variant::gemm_f32, {128, 32, 64, 4, 4});
    CHECK(g.local_size[0] == 128);
    CHECK(g.shared_bytes == 32 * (33 + 65) * 4);
    // Defaults where no value is given (BM = BN = 64).
    CHECK(reflect(spv::Variant::gemm_f32, {64}).shared_bytes == 32 * (65 + 65) * 4);
    // gemm_int8.comp tiled: As[BKW * (BM + 1)] and Bs[BKW * (BN + 1)] words.
    CHECK(reflect(spv::Variant::gemm_int8_dot, {128, 32, 64, 16, 2, 8}).shared_bytes == 16 * (33 + 65) * 4);
}

TEST_CASE("limits: a workgroup or shared memory over the device's limits is refused before the pipeline, naming both") {
    Device& dev = min_limits_device();
    // 256 invocations on a device that allows 128.
    expect_limit_error([&] { dev.pipeline(spv::Variant::add, {256}); },
                       {"'add'", "256 invocations", "maxComputeWorkGroupInvocations 128", "VKRT_LIMITS=min"});
    // 64 x 64 float tiles: 16640 bytes of shared memory over 16 KiB (64 threads: within the limit).
    expect_limit_error([&] { dev.pipeline(spv::Variant::gemm_f32, {64, 64, 64, 8, 8}); },
                       {"'gemm_f32'", "16640 bytes of shared memory", "maxComputeSharedMemorySize 16384"});
    // Within the limits: created.
    CHECK(dev.pipeline(spv::Variant::add, {128}).interface().invocations() == 128);
    // check_limits on its own: every limit it checks.
    Capabilities caps = dev.caps();
    ShaderInterface i;
    i.local_size[0] = 64;
    i.local_size[2] = 2;
    caps.max_workgroup_size[2] = 1;
    expect_limit_error([&] { check_limits(caps, i, "k"); }, {"'k'", "maxComputeWorkGroupSize[2] 1"});
    caps = dev.caps();
    i = ShaderInterface{};
    i.push_size = 132;
    expect_limit_error([&] { check_limits(caps, i, "k"); }, {"132 bytes of push constants", "maxPushConstantsSize"});
    i = ShaderInterface{};
    i.n_bindings = 9;
    expect_limit_error([&] { check_limits(caps, i, "k"); }, {"9 storage buffers", "maxPerStageDescriptorStorageBuffers 8"});
    CHECK_NO_VALIDATION(dev);
}

TEST_CASE("limits: the small kernels choose workgroups the minimum-limits device allows") {
    Device& dev = min_limits_device();
    check_add(dev, 70001, 31);
    CHECK_NO_VALIDATION(dev);
}

// ---------------------------------------------------------------- subgroup uniformity

namespace {
// Where a kernel's tangled instructions (subgroup operations, barriers) may run with only
// some invocations of their subgroup/workgroup: a conservative reading of the SPIR-V.
// A value is non-uniform when it derives from the invocation's index (LocalInvocationId,
// GlobalInvocationId, LocalInvocationIndex, SubgroupLocalInvocationId, subgroupElect),
// from memory (storage buffers, shared memory: conservatively) or from a phi at the merge
// of a branch on a non-uniform condition. A tangled instruction is reported when it lies
// inside a construct whose branch is non-uniform, after a loop whose exit is non-uniform
// (invocations leave it at different iterations: the instruction then relies on
// reconvergence that only VK_KHR_shader_maximal_reconvergence promises), or after an
// early exit (return) taken by some invocations only. Divergent selections (if/else) before it are
// accepted: their merge is where every driver reconverges.
std::vector<std::string> nonuniform_tangled(const spv::ShaderBlob& b) {
    const uint32_t* w = b.words;
    const size_t n = b.size;
    std::set<uint32_t> tainted_vars, memory_vars, tainted;
    std::map<uint32_t, uint32_t> ptr_base;  // access chain -> variable
    std::map<uint32_t, uint32_t> block_pos; // label -> position
    struct Inst { uint32_t op, len; const uint32_t* a; uint32_t block; };
    std::vector<Inst> insts;
    uint32_t block = 0, pos = 0;
    for (size_t i = 5; i < n;) {
        const uint32_t op = w[i] & 0xffffu, len = w[i] >> 16;
        const uint32_t* a = w + i + 1;
        if (op == 248) { block = a[0]; block_pos[a[0]] = ++pos; }
        if (op == 71 && a[1] == 11 && (a[2] == 27 || a[2] == 28 || a[2] == 29 || a[2] == 41)) tainted_vars.insert(a[0]);
        if (op == 59 && (a[2] == 12 || a[2] == 4 || a[2] == 2)) memory_vars.insert(a[1]);
        insts.push_back({op, len, a, block});
        i += len ? len : 1;
    }
    auto base = [&](uint32_t p) { while (ptr_base.count(p)) p = ptr_base[p]; return p; };
    struct Construct { uint32_t header, merge; bool loop; uint32_t cond; };
    std::vector<Construct> cs;
    std::map<uint32_t, std::vector<uint32_t>> merges_of;  // merge block -> constructs
    for (size_t k = 0; k < insts.size(); ++k) {
        const Inst& in = insts[k];
        if (in.op == 247 || in.op == 246) {  // OpSelectionMerge, OpLoopMerge
            uint32_t cond = 0;
            if (in.op == 247 && k + 1 < insts.size() && (insts[k + 1].op == 250 || insts[k + 1].op == 251))
                cond = insts[k + 1].a[0];
            cs.push_back({block_pos[in.block], block_pos[in.a[0]], in.op == 246, cond});
            merges_of[in.a[0]].push_back(uint32_t(cs.size() - 1));
        }
    }
    // Is construct c divergent? (selection: its condition; loop: any exit branch's condition)
    auto divergent = [&](const Construct& c) {
        if (!c.loop) return c.cond && tainted.count(c.cond) > 0;
        for (const Inst& in : insts) {
            const uint32_t p = block_pos[in.block];
            if (in.op != 250 || p < c.header || p >= c.merge) continue;
            const uint32_t t = block_pos[in.a[1]], f = block_pos[in.a[2]];
            const bool exits = t >= c.merge || f >= c.merge || t < c.header || f < c.header;
            if (exits && tainted.count(in.a[0])) return true;
        }
        return false;
    };
    // Data flow to a fixpoint.
    for (bool changed = true; changed;) {
        changed = false;
        auto mark = [&](uint32_t id) { if (tainted.insert(id).second) changed = true; };
        for (const Inst& in : insts) {
            const uint32_t op = in.op, len = in.len;
            const uint32_t* a = in.a;
            if (op == 65 || op == 66) ptr_base[a[1]] = a[2];  // OpAccessChain: result -> base
            if (op == 62) {  // OpStore ptr value
                if (tainted.count(a[1]) && tainted_vars.insert(base(a[0])).second) changed = true;
                continue;
            }
            if (len < 3) continue;
            // Instructions with a result type and result id; which operands are ids.
            std::vector<uint32_t> ids;
            if (op == 61) {  // OpLoad
                const uint32_t v = base(a[2]);
                if (tainted_vars.count(v) || memory_vars.count(v) || tainted.count(a[2])) mark(a[1]);
                continue;
            }
            if (op == 333) { mark(a[1]); continue; }  // subgroupElect: true in one invocation
            if (op >= 349 && op <= 364 && a[3] == 0) continue;  // subgroup reductions: uniform in the subgroup
            if (op == 245) {  // OpPhi: values, and the merge of a divergent branch
                for (uint32_t k = 2; k + 1 < len; k += 2) ids.push_back(a[k]);
                for (uint32_t c : merges_of[in.block])
                    if (divergent(cs[c])) mark(a[1]);
            } else if (op == 81) ids = {a[2]};                    // OpCompositeExtract
            else if (op == 82 || op == 79) ids = {a[2], a[3]};     // OpCompositeInsert, OpVectorShuffle
            else if (op == 12) ids.assign(a + 4, a + len - 1);     // OpExtInst
            else if (op == 65 || op == 66 || (op >= 109 && op <= 207) || op == 80 || op == 83 || op == 124 ||
                     op == 337 || op == 338 || (op >= 345 && op <= 348) || (op >= 4450 && op <= 4452))
                ids.assign(a + 2, a + len - 1);
            else continue;
            for (uint32_t id : ids)
                if (tainted.count(id)) { mark(a[1]); break; }
        }
    }
    std::vector<std::string> found;
    for (const Inst& in : insts) {
        const bool subgroup = in.op >= 333 && in.op <= 366, barrier = in.op == 224;
        if (!subgroup && !barrier) continue;
        const uint32_t p = block_pos[in.block];
        const char* what = subgroup ? "subgroup operation" : "barrier";
        for (const Construct& c : cs) {
            if (!divergent(c)) continue;
            const bool inside = c.loop ? (p >= c.header && p < c.merge) : (p > c.header && p < c.merge);
            if (inside) found.push_back(std::string(what) + " inside a " + (c.loop ? "loop" : "branch") +
                                        " on a non-uniform condition");
            else if (c.loop && p >= c.merge) found.push_back(std::string(what) + " after a loop with a non-uniform exit");
        }
        // Early exits from a divergent branch: a return, or (glslang's form of a return in
        // main) a branch from inside the branch to past its merge, skipping this instruction.
        for (const Inst& r : insts) {
            const uint32_t rp = block_pos[r.block];
            if (rp >= p) continue;
            const bool ret = r.op == 253 || r.op == 254;
            const uint32_t target = r.op == 249 ? block_pos[r.a[0]] : 0;  // OpBranch
            if (!ret && target == 0) continue;
            for (const Construct& c : cs)
                if (!c.loop && divergent(c) && rp > c.header && rp < c.merge && c.merge <= p && (ret || target > p))
                    found.push_back(std::string(what) + " after an early exit taken by some invocations only");
        }
    }
    std::sort(found.begin(), found.end());
    found.erase(std::unique(found.begin(), found.end()), found.end());
    return found;
}
}  // namespace

TEST_CASE("uniformity: subgroup operations and barriers run in uniform control flow (no reliance on reconvergence)") {
    // The kernels whose reductions this checks (matvec, attention* and matmul are checked
    // by their owners: listed, not failed, below).
    using V = spv::Variant;
    const V checked[] = {V::rmsnorm_sg, V::rmsnorm_shared, V::softmax_sg, V::softmax_shared, V::argmax_sg,
                         V::argmax_shared, V::quantize_rows_sg, V::quantize_rows_shared, V::rmsnorm_quantize_rows_sg,
                         V::rmsnorm_quantize_rows_shared, V::quantize_q8_1, V::gemv_int8_dot_sg,
                         V::gemv_int8_dot_shared, V::gemv_int8_nodot_sg, V::gemv_int8_nodot_shared,
                         V::gemm_int8_dot, V::gemm_int8_nodot, V::int8_row_sums, V::add, V::swiglu, V::kv_store_q8_0,
                         V::rope_store_q8_0, V::embed_q4_0};
    for (const V k : checked) {
        CAPTURE(spv::variant_name(k));
        const auto f = nonuniform_tangled(spv::shader(k));
        for (const auto& s : f) MESSAGE(std::string(spv::variant_name(k)), ": ", s);
        CHECK(f.empty());
    }
    // The other kernels: what the analysis finds there is reported for their owners.
    size_t others = 0;
    for (const auto& s : spv::all_shaders()) {
        if (std::find_if(std::begin(checked), std::end(checked),
                         [&](V k) { return s.name == std::string(spv::variant_name(k)); }) != std::end(checked))
            continue;
        for (const auto& f : nonuniform_tangled(s)) {
            MESSAGE("not checked here (other owners): ", std::string(s.name), ": ", f);
            ++others;
        }
    }
    MESSAGE(others, " findings in kernels checked elsewhere");
}

// ---------------------------------------------------------------- SPIR-V version

TEST_CASE("SPIR-V version: every kernel is SPIR-V 1.3 at most, which Vulkan 1.1 devices accept") {
    // Vulkan 1.1 (panvk; Android 10's minimum) takes SPIR-V up to 1.3; the kernels were 1.5.
    for (const auto& s : spv::all_shaders()) {
        CAPTURE(std::string(s.name));
        REQUIRE(s.size >= 2);
        CHECK(s.words[1] <= 0x00010300u);
    }
    CHECK(spv::spirv_version() == 0x00010300u);
    CHECK(spv::vulkan_version_for_spirv(0x00010000u) == VK_API_VERSION_1_0);
    CHECK(spv::vulkan_version_for_spirv(0x00010300u) == VK_API_VERSION_1_1);
    CHECK(spv::vulkan_version_for_spirv(0x00010500u) == VK_API_VERSION_1_2);
    CHECK(spv::vulkan_version_for_spirv(0x00010600u) == VK_API_VERSION_1_3);
}

TEST_CASE("SPIR-V version: a Vulkan 1.1 device (simulated) runs the kernels; a 1.0 device is refused naming the versions") {
    DeviceOptions o = DeviceOptions::from_env();
    o.pipeline_cache = "off";
    o.max_api_version = VK_API_VERSION_1_1;
    {
        Device dev(o);
        CHECK(VK_API_VERSION_MINOR(dev.caps().api_version) == 1);
        // Kernels with subgroup operations, integer dot products (an extension on 1.1) and plain ones.
        check_add(dev, 4096, 41);
        dev.pipeline(dev.caps().subgroup ? spv::Variant::rmsnorm_sg : spv::Variant::rmsnorm_shared, {64});
        if (dev.caps().int_dot) dev.pipeline(spv::Variant::gemv_int8_dot_sg, {128, 1, 4});
        CHECK_NO_VALIDATION(dev);
    }
    o.max_api_version = VK_API_VERSION_1_0;
    try {
        Device dev(o);
        FAIL("a Vulkan 1.0 device was accepted");
    } catch (const Error& e) {
        CHECK(e.status() == Status::unsupported);
        const std::string m = e.what();
        CHECK_MESSAGE(m.find("supports Vulkan 1.0") != std::string::npos, m);
        CHECK_MESSAGE(m.find("SPIR-V 1.3") != std::string::npos, m);
        CHECK_MESSAGE(m.find("need Vulkan 1.1") != std::string::npos, m);
    }
    // The one exception, shader statistics only (vkrt-bench --shader-stats --allow-vulkan-1.0
    // sets the variable: G52's compiler figures): the variable alone opens nothing.
    ::setenv("VKRT_STATS_ALLOW_OLD_API", "1", 1);
    CHECK_THROWS_WITH_AS(Device{o}, doctest::Contains("supports Vulkan 1.0"), vkrt::Error);
    o.shader_stats = true;
    {
        Device dev(o);
        CHECK(VK_API_VERSION_MINOR(dev.caps().api_version) == 0);
    }
    ::unsetenv("VKRT_STATS_ALLOW_OLD_API");
    ::setenv("VKRT_API_VERSION", "1.1", 1);
    CHECK(DeviceOptions::from_env().max_api_version == VK_API_VERSION_1_1);
    ::setenv("VKRT_API_VERSION", "2.0", 1);
    CHECK_THROWS_WITH_AS(DeviceOptions::from_env(), doctest::Contains("VKRT_API_VERSION"), vkrt::Error);
    ::unsetenv("VKRT_API_VERSION");
}
