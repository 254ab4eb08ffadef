#include "vk/shader_stats.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>

#include "core/error.hpp"
#include "vk/check.hpp"
#include "vk/device.hpp"
#include "vk/pipeline.hpp"

namespace vkrt {

// ---------------------------------------------------------------- records

double PipelineRecord::stat(const std::string& name, double fallback) const {
    for (const auto& s : stats)
        if (s.name == name) return s.value;
    return fallback;
}

const char* pipeline_status_name(PipelineRecord::Status s) {
    switch (s) {
        case PipelineRecord::Status::ok: return "ok";
        case PipelineRecord::Status::error: return "error";
        case PipelineRecord::Status::hang: return "hang";
    }
    return "?";
}

// ---------------------------------------------------------------- driver statistics

std::vector<ShaderStat> pipeline_statistics(VkDevice d, VkPipeline p) {
    // Extension entry points: the loader exports only core functions.
    auto props_fn = reinterpret_cast<PFN_vkGetPipelineExecutablePropertiesKHR>(
        vkGetDeviceProcAddr(d, "vkGetPipelineExecutablePropertiesKHR"));
    auto stats_fn = reinterpret_cast<PFN_vkGetPipelineExecutableStatisticsKHR>(
        vkGetDeviceProcAddr(d, "vkGetPipelineExecutableStatisticsKHR"));
    VKRT_CHECK(props_fn && stats_fn, Status::unsupported,
               "VK_KHR_pipeline_executable_properties is enabled but its functions are missing");
    VkPipelineInfoKHR pi{VK_STRUCTURE_TYPE_PIPELINE_INFO_KHR};
    pi.pipeline = p;
    uint32_t n_exec = 0;
    VK_CHECK(props_fn(d, &pi, &n_exec, nullptr));
    std::vector<ShaderStat> out;
    for (uint32_t e = 0; e < n_exec; ++e) {
        VkPipelineExecutableInfoKHR ei{VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR};
        ei.pipeline = p;
        ei.executableIndex = e;
        uint32_t n = 0;
        VK_CHECK(stats_fn(d, &ei, &n, nullptr));
        std::vector<VkPipelineExecutableStatisticKHR> st(n, {VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR});
        VK_CHECK(stats_fn(d, &ei, &n, st.data()));
        const std::string suffix = n_exec > 1 ? " (executable " + std::to_string(e) + ")" : "";
        for (uint32_t i = 0; i < n; ++i) {
            double v = 0;
            switch (st[i].format) {
                case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_BOOL32_KHR: v = st[i].value.b32 ? 1 : 0; break;
                case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_INT64_KHR: v = double(st[i].value.i64); break;
                case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_UINT64_KHR: v = double(st[i].value.u64); break;
                case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_FLOAT64_KHR: v = st[i].value.f64; break;
                default: continue;
            }
            out.push_back({std::string(st[i].name) + suffix, v});
        }
    }
    return out;
}

// ---------------------------------------------------------------- watched compile

namespace {

// A compile that passed the watchdog's limit cannot be cancelled (no Vulkan call can stop a
// driver's compiler), and a hung compiler often spins: its thread gets this signal, whose
// handler sleeps for good, so the hang costs no CPU while the rest of the run goes on.
// Real-time signal: nothing else in a process that links vkrt is expected to use it.
int park_signal() { return SIGRTMIN + 3; }
void park_handler(int) {
    for (;;) pause();
}

struct CompileJob {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::unique_ptr<Pipeline> pipeline;
    std::exception_ptr error;
};

// fd 2 into an unlinked temporary file while a compile runs: drivers print their compiler's
// figures there (panvk: BIFROST_MESA_DEBUG=shaderdb), one compile at a time.
class StderrCapture {
public:
    StderrCapture() {
        std::fflush(stderr);
        char path[] = "/tmp/vkrt-compile-stderr-XXXXXX";
        fd_ = mkstemp(path);
        if (fd_ < 0) return;
        unlink(path);
        saved_ = dup(2);
        if (saved_ < 0 || dup2(fd_, 2) < 0) {
            close(fd_);
            if (saved_ >= 0) close(saved_);
            fd_ = saved_ = -1;
        }
    }
    StderrCapture(const StderrCapture&) = delete;
    StderrCapture& operator=(const StderrCapture&) = delete;
    ~StderrCapture() { finish(); }
    // Restores fd 2 and returns what was written meanwhile.
    std::string finish() {
        if (fd_ < 0) return {};
        std::fflush(stderr);
        dup2(saved_, 2);
        close(saved_);
        std::string text;
        char buf[4096];
        off_t off = 0;
        for (ssize_t k; (k = pread(fd_, buf, sizeof buf, off)) > 0; off += k) text.append(buf, size_t(k));
        close(fd_);
        fd_ = saved_ = -1;
        return text;
    }

private:
    int fd_ = -1, saved_ = -1;
};

}  // namespace

const Pipeline& Device::pipeline_with_stats(const std::string& key, spv::Variant variant,
                                            const std::vector<uint32_t>& spec) {
    // Called under pipelines_mu_. A pipeline that failed or hung once fails again at once.
    if (auto f = failed_.find(key); f != failed_.end())
        fail(Status::device_error, records_[f->second].error);
    static std::once_flag handler_once;
    std::call_once(handler_once, [] {
        struct sigaction sa {};
        sa.sa_handler = park_handler;
        sigemptyset(&sa.sa_mask);
        sigaction(park_signal(), &sa, nullptr);
    });

    PipelineRecord r;
    r.key = key;
    r.variant = spv::variant_name(variant);
    r.spec = spec;
    auto job = std::make_shared<CompileJob>();
    const auto t0 = std::chrono::steady_clock::now();
    bool done = false;
    std::thread worker;
    {
        StderrCapture capture;
        worker = std::thread([this, job, variant, spec] {
            std::unique_ptr<Pipeline> p;
            std::exception_ptr e;
            try {
                p = std::make_unique<Pipeline>(*this, variant, spec);
            } catch (...) {
                e = std::current_exception();
            }
            std::lock_guard<std::mutex> l(job->mu);
            job->pipeline = std::move(p);
            job->error = e;
            job->done = true;
            job->cv.notify_all();
        });
        // The limit counts the compile thread's CPU seconds, not wall time: on a loaded machine
        // (or under qemu-user, where a starved compile can wait minutes for a core) a slow
        // compile is not a hang, while a hung compiler spins and uses up its CPU limit.
        // Wall time still ends it at 20x the limit (a compiler blocked without spinning).
        clockid_t cpu_clock{};
        const bool have_cpu_clock = pthread_getcpuclockid(worker.native_handle(), &cpu_clock) == 0;
        auto cpu_seconds = [&] {
            timespec ts{};
            if (!have_cpu_clock || clock_gettime(cpu_clock, &ts) != 0) return -1.0;
            return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
        };
        std::unique_lock<std::mutex> l(job->mu);
        for (;;) {
            if (job->cv.wait_for(l, std::chrono::milliseconds(250), [&] { return job->done; })) {
                done = true;
                break;
            }
            const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            const double cpu = cpu_seconds();
            if ((cpu >= 0 ? cpu : wall) >= compile_timeout_s_ || wall >= 20 * compile_timeout_s_) break;
        }
        l.unlock();
        if (!done) pthread_kill(worker.native_handle(), park_signal());
        r.compiler_log = capture.finish();
    }
    r.compile_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!done) {
        worker.detach();  // parked for good; owns `job`
        r.status = PipelineRecord::Status::hang;
        char secs[32];
        std::snprintf(secs, sizeof secs, "%g", compile_timeout_s_);
        r.error = "pipeline " + key + ": the driver's compiler did not finish within " + secs +
                  " CPU seconds (counted as a hang)";
    } else {
        worker.join();
        if (job->error) {
            r.status = PipelineRecord::Status::error;
            try {
                std::rethrow_exception(job->error);
            } catch (const std::exception& e) {
                r.error = "pipeline " + key + ": " + e.what();
            }
        }
    }
    if (r.status != PipelineRecord::Status::ok) {
        failed_[key] = records_.size();
        records_.push_back(r);
        fail(Status::device_error, r.error);
    }
    r.stats = job->pipeline->statistics();
    records_.push_back(std::move(r));
    const Pipeline& ref = *job->pipeline;
    pipelines_.emplace(key, std::move(job->pipeline));
    return ref;
}

std::vector<PipelineRecord> Device::pipeline_records() const {
    std::lock_guard<std::mutex> lock(pipelines_mu_);
    return records_;
}

}  // namespace vkrt
