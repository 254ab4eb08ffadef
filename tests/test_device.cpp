// Device layer: selection, capabilities, buffers, recorder, pipeline cache, limits.
#include <doctest/doctest.h>

#include <cstdlib>
#include <functional>
#include <memory>
#include <filesystem>

#include "gpu.hpp"
#include "ops/elementwise.hpp"
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

TEST_CASE("device: forced-off capability paths") {
    Device& dev = test::gpu_with(true, true, true);
    CHECK_FALSE(dev.caps().int_dot);
    CHECK_FALSE(dev.caps().fp16);
    CHECK_FALSE(dev.caps().subgroup);
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
    const Pipeline& p = dev.pipeline("add", {64});
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

TEST_CASE("pipeline cache: saved on destruction, loaded by the next device") {
    std::string path = test::tmp_dir() + "/pipeline_cache_test.bin";
    std::filesystem::remove(path);
    DeviceOptions o = DeviceOptions::from_env();
    o.pipeline_cache = path;
    {
        Device d1(o);
        CHECK(d1.pipeline_cache_loaded_bytes() == 0);
        d1.pipeline("add", {64});
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
    const ShaderInterface& iface = dev.pipeline("add", {64}).interface();
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
    auto reflect = [](const char* name, std::vector<uint32_t> spec) {
        const spv::ShaderBlob& b = spv::shader(name);
        return reflect_spirv(b.words, b.size, name, spec);
    };
    // rmsnorm_shared: red[L] floats.
    for (uint32_t L : {32u, 64u, 256u}) {
        const ShaderInterface i = reflect("rmsnorm_shared", {L});
        CHECK(i.local_size_from_spec);
        CHECK(i.local_size[0] == L);
        CHECK(i.invocations() == L);
        CHECK(i.shared_bytes == 4 * L);
    }
    CHECK(reflect("add", {}).shared_bytes == 0);
    // matmul.comp: xs[32 * (BM + 1)] and ws[32 * (BN + 1)] floats (spec ids L, BM, BN, TM, TN).
    const ShaderInterface g = reflect("gemm_f32", {128, 32, 64, 4, 4});
    CHECK(g.local_size[0] == 128);
    CHECK(g.shared_bytes == 32 * (33 + 65) * 4);
    // Defaults where no value is given (BM = BN = 64).
    CHECK(reflect("gemm_f32", {64}).shared_bytes == 32 * (65 + 65) * 4);
    // gemm_int8.comp tiled: As[BKW * (BM + 1)] and Bs[BKW * (BN + 1)] words.
    CHECK(reflect("gemm_int8_dot", {128, 32, 64, 16, 2, 8}).shared_bytes == 16 * (33 + 65) * 4);
}

TEST_CASE("limits: a workgroup or shared memory over the device's limits is refused before the pipeline, naming both") {
    Device& dev = min_limits_device();
    // 256 invocations on a device that allows 128.
    expect_limit_error([&] { dev.pipeline("add", {256}); },
                       {"'add'", "256 invocations", "maxComputeWorkGroupInvocations 128", "VKRT_LIMITS=min"});
    // 64 x 64 float tiles: 16640 bytes of shared memory over 16 KiB (64 threads: within the limit).
    expect_limit_error([&] { dev.pipeline("gemm_f32", {64, 64, 64, 8, 8}); },
                       {"'gemm_f32'", "16640 bytes of shared memory", "maxComputeSharedMemorySize 16384"});
    // Within the limits: created.
    CHECK(dev.pipeline("add", {128}).interface().invocations() == 128);
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
    const uint32_t n = 70001;
    auto a = test::random_floats(n, 31), b = test::random_floats(n, 32);
    Buffer ba = make_buffer(dev, a, "a"), bb = make_buffer(dev, b, "b");
    Buffer out(dev, n * 4, MemoryKind::device, "out");
    test::run(dev, [&](Recorder& rec) { ops::add(rec, ba, bb, out, n); });
    auto o = out.download_as<float>(n);
    for (uint32_t i = 0; i < n; ++i) REQUIRE(o[i] == a[i] + b[i]);
    CHECK_NO_VALIDATION(dev);
}
