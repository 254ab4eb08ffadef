// Device layer: selection, capabilities, buffers, recorder, pipeline cache, limits.
#include <doctest/doctest.h>

#include <cstdlib>
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

TEST_CASE("device: shader-statistics mode records every pipeline asked for, with its compile status") {
    // vkrt-bench --shader-stats (docs/GPU.md) reads these records: one per distinct
    // variant + specialization, in request order; a failed compile is recorded and rethrown,
    // and asking again fails at once with the same message.
    DeviceOptions o = DeviceOptions::from_env();
    o.shader_stats = true;
    o.pipeline_cache = "off";
    Device dev(o);
    dev.pipeline("add", {64});
    dev.pipeline("add", {64});   // cached: no second record
    dev.pipeline("scale", {32});
    auto recs = dev.pipeline_records();
    REQUIRE(recs.size() == 2);
    CHECK(recs[0].key == "add:64");
    CHECK(recs[0].variant == "add");
    CHECK(recs[0].spec == std::vector<uint32_t>{64});
    CHECK(recs[0].status == PipelineRecord::Status::ok);
    CHECK(recs[1].key == "scale:32");
    // Statistics where the driver has VK_KHR_pipeline_executable_properties.
    if (dev.capture_statistics()) CHECK_FALSE(recs[0].stats.empty());
    // A pipeline that cannot be built is recorded as an error and rethrown; asked again, it
    // fails at once with the same message and no new record.
    CHECK_THROWS_WITH_AS(dev.pipeline("no_such_kernel_xyz", {}), doctest::Contains("no_such_kernel_xyz"),
                         vkrt::Error);
    recs = dev.pipeline_records();
    REQUIRE(recs.size() == 3);
    CHECK(recs[2].status == PipelineRecord::Status::error);
    CHECK(recs[2].error.find("no embedded shader variant") != std::string::npos);
    CHECK_THROWS_WITH_AS(dev.pipeline("no_such_kernel_xyz", {}), doctest::Contains("no_such_kernel_xyz"),
                         vkrt::Error);
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
    const Pipeline& p = dev.pipeline("add", {256});
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
        d1.pipeline("add", {256});
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
    const ShaderInterface& iface = dev.pipeline("add", {256}).interface();
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
