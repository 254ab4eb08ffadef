#include "cli.hpp"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "core/error.hpp"
#include "io/safe_write.hpp"

namespace vkrt::cli {

Args::Args(int argc, char** argv) : args_(argv + 1, argv + argc), used_(args_.size(), false) {}

int Args::find(const std::string& a, const std::string& b, bool with_value) {
    for (size_t i = 0; i < args_.size(); ++i) {
        if (used_[i] || (args_[i] != a && (b.empty() || args_[i] != b))) continue;
        used_[i] = true;
        if (!with_value) return int(i);
        VKRT_CHECK(i + 1 < args_.size(), Status::invalid_argument, "flag ", args_[i], " needs a value");
        used_[i + 1] = true;
        return int(i + 1);
    }
    return -1;
}

bool Args::flag(const std::string& name) { return find(name, "", false) >= 0; }

std::string Args::str(const std::string& a, const std::string& b, const std::string& def) {
    int i = find(a, b, true);
    return i < 0 ? def : args_[size_t(i)];
}

int64_t Args::integer(const std::string& a, const std::string& b, int64_t def, int64_t lo, int64_t hi) {
    int i = find(a, b, true);
    if (i < 0) return def;
    const std::string& s = args_[size_t(i)];
    errno = 0;
    char* end = nullptr;
    const long long v = std::strtoll(s.c_str(), &end, 10);
    VKRT_CHECK(!s.empty() && end == s.c_str() + s.size() && !std::isspace(static_cast<unsigned char>(s[0])),
               Status::invalid_argument, "flag ", a, ": '", s, "' is not an integer");
    VKRT_CHECK(errno != ERANGE && v >= lo && v <= hi, Status::invalid_argument, "flag ", a, ": ", s,
               " is out of range [", lo, ", ", hi, "]");
    return v;
}

double Args::number(const std::string& a, const std::string& b, double def) {
    int i = find(a, b, true);
    if (i < 0) return def;
    const std::string& s = args_[size_t(i)];
    errno = 0;
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    VKRT_CHECK(!s.empty() && end == s.c_str() + s.size() && !std::isspace(static_cast<unsigned char>(s[0])),
               Status::invalid_argument, "flag ", a, ": '", s, "' is not a number");
    VKRT_CHECK(errno != ERANGE && std::isfinite(v), Status::invalid_argument, "flag ", a, ": ", s,
               " is not a finite number in range");
    return v;
}

void Args::finish() const {
    for (size_t i = 0; i < args_.size(); ++i)
        VKRT_CHECK(used_[i], Status::invalid_argument, "unknown argument '", args_[i], "' (see --help)");
}

std::string default_model_path() {
    if (const char* m = std::getenv("VKRT_MODEL"); m && *m) return m;
    if (const char* d = std::getenv("VKRT_MODELS_DIR"); d && *d) return std::string(d) + "/stories260K.gguf";
    return std::string(VKRT_MODELS_DIR) + "/stories260K.gguf";
}

KvCacheTypes kv_cache_types(Args& args) {
    KvCacheTypes t;
    const std::string k = args.str("-ctk", "--cache-type-k", "");
    const std::string v = args.str("-ctv", "--cache-type-v", "");
    if (!k.empty()) t.k = ops::parse_kv_type(k, "-ctk");
    if (!v.empty()) t.v = ops::parse_kv_type(v, "-ctv");
    return t;
}

std::string format_bytes(double bytes) {
    char buf[32];
    const double mib = bytes / (1024.0 * 1024.0);
    if (mib >= 1024) std::snprintf(buf, sizeof buf, "%.2f GiB", mib / 1024);
    else if (mib >= 1) std::snprintf(buf, sizeof buf, "%.2f MiB", mib);
    else std::snprintf(buf, sizeof buf, "%.1f KiB", bytes / 1024.0);
    return buf;
}

std::string memory_report(const model::Model& model, const model::Session& session) {
    const SessionMemory& m = session.memory();
    const KvCache& kv = session.kv_cache();
    const KvCacheTypes& t = kv.types();
    // Sliding-window layers keep a ring of fewer rows (model::Session::kv_layer_rows).
    uint32_t n_ring = 0, ring_rows = 0;
    for (uint32_t l = 0; l < kv.n_layer(); ++l)
        if (kv.rows(l) < session.n_ctx()) ++n_ring, ring_rows = kv.rows(l);
    const std::string ring = n_ring ? "; " + std::to_string(n_ring) + " sliding-window layers keep " +
                                          std::to_string(ring_rows)
                                    : std::string();
    return "weights " + format_bytes(double(model.weight_bytes())) + " | KV cache " + format_bytes(double(m.kv)) +
           " (K " + ops::kv_type_name(t.k) + ", V " + ops::kv_type_name(t.v) + ", " + std::to_string(session.n_ctx()) +
           " positions" + ring + ") | activations " + format_bytes(double(m.activations)) + " | scratch " +
           format_bytes(double(m.scratch)) + " | I/O " + format_bytes(double(m.io));
}

int guarded_main(const char* name, int (*run)(int, char**), int argc, char** argv) {
    // Ctrl-C or a kill during a write removes the temporary file (io/safe_write.hpp).
    io::install_signal_cleanup();
    try {
        return run(argc, argv);
    } catch (const Error& e) {
        std::fprintf(stderr, "\n%s: error (%s): %s\n", name, status_name(e.status()), e.what());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "\n%s: error: %s\n", name, e.what());
    }
    return 1;
}

}  // namespace vkrt::cli
