#include "io/safe_write.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <utility>
#include <vector>

#include "core/error.hpp"

namespace vkrt::io {

namespace {

// ---- registered inputs (device, inode) ----

struct Inputs {
    std::mutex mu;
    std::vector<std::pair<dev_t, ino_t>> files;  // a multiset: one entry per guard
};
Inputs& inputs() {
    static Inputs* i = new Inputs;  // never destroyed: guards may die during exit
    return *i;
}

bool is_input(dev_t dev, ino_t ino) {
    Inputs& in = inputs();
    std::lock_guard<std::mutex> lock(in.mu);
    return std::find(in.files.begin(), in.files.end(), std::make_pair(dev, ino)) != in.files.end();
}

// ---- temporary files for the signal handler: fixed slots, no allocation ----

constexpr int kSlots = 32;
constexpr size_t kPathMax = 4096;
struct Slot {
    std::atomic<int> state{0};  // 0 free, 1 being filled, 2 live
    char path[kPathMax];
};
Slot g_slots[kSlots];

int claim_slot(const std::string& temp) {
    if (temp.size() >= kPathMax) return -1;  // still removed by the destructor, just not on a signal
    for (int i = 0; i < kSlots; ++i) {
        int expected = 0;
        if (g_slots[i].state.compare_exchange_strong(expected, 1)) {
            std::memcpy(g_slots[i].path, temp.c_str(), temp.size() + 1);
            g_slots[i].state.store(2);
            return i;
        }
    }
    return -1;
}

void release_slot(int i) {
    if (i >= 0) g_slots[i].state.store(0);
}

const char* kind_of(mode_t m) {
    if (S_ISLNK(m)) return "a symbolic link";
    if (S_ISDIR(m)) return "a directory";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISSOCK(m)) return "a socket";
    return "not a regular file";
}

std::string dir_of(const std::string& path) {
    const size_t slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

// The process umask, read without changing it (umask() would race with other threads).
mode_t current_umask() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("Umask:", 0) == 0) return mode_t(std::strtoul(line.c_str() + 6, nullptr, 8));
    return 022;
}

extern "C" void on_signal(int sig) {
    remove_temporary_files();
    signal(sig, SIG_DFL);
    raise(sig);
}

}  // namespace

// ---------------------------------------------------------------- checks

void check_output_path(const std::string& path) {
    VKRT_CHECK(!path.empty(), Status::io_error, "cannot write: empty output path");
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        VKRT_CHECK(errno == ENOENT, Status::io_error, "cannot write '", path, "': ", std::strerror(errno));
        return;  // a new file
    }
    VKRT_CHECK(S_ISREG(st.st_mode), Status::io_error, "refusing to write '", path, "': it is ", kind_of(st.st_mode),
               " (vkrt replaces only regular files)");
    VKRT_CHECK(!is_input(st.st_dev, st.st_ino), Status::io_error, "refusing to write '", path,
               "': it is the input file (under this or another name)");
}

bool same_file(const std::string& a, const std::string& b) {
    struct stat sa {}, sb {};
    if (::stat(a.c_str(), &sa) != 0 || ::stat(b.c_str(), &sb) != 0) return false;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

// ---------------------------------------------------------------- InputGuard

InputGuard::InputGuard(const std::string& path) {
    struct stat st {};
    VKRT_CHECK(::stat(path.c_str(), &st) == 0, Status::io_error, "cannot stat '", path, "': ", std::strerror(errno));
    dev_ = st.st_dev;
    ino_ = st.st_ino;
    Inputs& in = inputs();
    std::lock_guard<std::mutex> lock(in.mu);
    in.files.emplace_back(dev_, ino_);
    active_ = true;
}

InputGuard::InputGuard(InputGuard&& o) noexcept
    : active_(std::exchange(o.active_, false)), dev_(o.dev_), ino_(o.ino_) {}

InputGuard& InputGuard::operator=(InputGuard&& o) noexcept {
    if (this != &o) {
        release();
        active_ = std::exchange(o.active_, false);
        dev_ = o.dev_;
        ino_ = o.ino_;
    }
    return *this;
}

InputGuard::~InputGuard() { release(); }

void InputGuard::release() {
    if (!active_) return;
    Inputs& in = inputs();
    std::lock_guard<std::mutex> lock(in.mu);
    auto it = std::find(in.files.begin(), in.files.end(), std::make_pair(dev_, ino_));
    if (it != in.files.end()) in.files.erase(it);
    active_ = false;
}

// ---------------------------------------------------------------- SafeWriter

SafeWriter::SafeWriter(const std::string& path) : path_(path) {
    check_output_path(path);
    std::string tmpl = path + ".part-XXXXXX";
    const int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
    VKRT_CHECK(fd >= 0, Status::io_error, "cannot create a temporary file next to '", path, "' (in '", dir_of(path),
               "'): ", std::strerror(errno));
    temp_ = tmpl;
    slot_ = claim_slot(temp_);
    // mkostemp makes 0600; the result gets the mode a plain create would give it.
    (void)::fchmod(fd, 0666 & ~current_umask());
    f_ = ::fdopen(fd, "wb");
    if (!f_) {
        const int e = errno;
        ::close(fd);
        discard();
        fail(Status::io_error, "cannot open '", temp_, "': ", std::strerror(e));
    }
    std::setvbuf(f_, nullptr, _IOFBF, 1 << 20);
}

SafeWriter::~SafeWriter() {
    if (!committed_) discard();
}

void SafeWriter::discard() noexcept {
    if (f_) std::fclose(f_);
    f_ = nullptr;
    if (!temp_.empty()) ::unlink(temp_.c_str());
    release_slot(slot_);
    slot_ = -1;
}

void SafeWriter::write(const void* data, size_t n) {
    VKRT_CHECK(f_ && !committed_, Status::internal, "write to '", path_, "' after commit");
    if (n && std::fwrite(data, 1, n, f_) != n)
        fail(Status::io_error, "write to '", temp_, "' (for '", path_, "') failed at offset ", written_, ": ",
             std::strerror(errno));
    written_ += n;
}

void SafeWriter::commit() {
    VKRT_CHECK(f_ && !committed_, Status::internal, "commit of '", path_, "' twice");
    VKRT_CHECK(std::fflush(f_) == 0, Status::io_error, "write to '", temp_, "' failed: ", std::strerror(errno));
    VKRT_CHECK(::fsync(::fileno(f_)) == 0, Status::io_error, "fsync of '", temp_, "' failed: ", std::strerror(errno));
    const int r = std::fclose(f_);
    f_ = nullptr;
    VKRT_CHECK(r == 0, Status::io_error, "closing '", temp_, "' failed: ", std::strerror(errno));
    // Again just before the rename: the target may have changed while we wrote.
    check_output_path(path_);
    VKRT_CHECK(::rename(temp_.c_str(), path_.c_str()) == 0, Status::io_error, "cannot rename '", temp_, "' to '",
               path_, "': ", std::strerror(errno));
    committed_ = true;
    release_slot(slot_);
    slot_ = -1;
    // Make the rename itself durable (some filesystems cannot fsync a directory: ignored).
    const int dfd = ::open(dir_of(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)::fsync(dfd);
        ::close(dfd);
    }
}

void write_file(const std::string& path, std::string_view data) {
    SafeWriter w(path);
    w.write(data.data(), data.size());
    w.commit();
}

// ---------------------------------------------------------------- signals

void remove_temporary_files() noexcept {
    for (Slot& s : g_slots)
        if (s.state.load() == 2) ::unlink(s.path);
}

void install_signal_cleanup() {
    static std::once_flag once;
    std::call_once(once, [] {
        for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
            struct sigaction old {};
            if (::sigaction(sig, nullptr, &old) != 0 || old.sa_handler != SIG_DFL) continue;
            struct sigaction sa {};
            sa.sa_handler = on_signal;
            sigemptyset(&sa.sa_mask);
            ::sigaction(sig, &sa, nullptr);
        }
    });
}

}  // namespace vkrt::io
