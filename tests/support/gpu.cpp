#include "gpu.hpp"

#include <map>
#include <tuple>

namespace vkrt::test {

namespace {
std::map<std::tuple<bool, bool, bool, bool>, std::unique_ptr<Device>>& devices() {
    static std::map<std::tuple<bool, bool, bool, bool>, std::unique_ptr<Device>> d;
    return d;
}
}  // namespace

Device& gpu_with(bool no_int_dot, bool no_fp16, bool no_subgroup, bool no_native_half) {
    auto key = std::make_tuple(no_int_dot, no_fp16, no_subgroup, no_native_half);
    auto& d = devices()[key];
    if (!d) {
        DeviceOptions o = DeviceOptions::from_env();
        o.disable_int_dot |= no_int_dot;
        o.disable_fp16 |= no_fp16;
        o.disable_subgroup |= no_subgroup;
        o.disable_native_half |= no_native_half;
        if (o.pipeline_cache.empty()) o.pipeline_cache = "off";
        d = std::make_unique<Device>(o);
    }
    return *d;
}

Device& gpu_integer_half() { return gpu_with(false, false, false, true); }

Device& gpu() { return gpu_with(false, false, false); }

uint64_t release_devices() {
    uint64_t n = 0;
    for (auto& [k, d] : devices()) n += d->validation_messages();
    devices().clear();
    return n;
}

void run(Device& dev, const std::function<void(Recorder&)>& fn) {
    Recorder rec(dev);
    rec.begin();
    fn(rec);
    rec.end();
    rec.submit();
}

}  // namespace vkrt::test
