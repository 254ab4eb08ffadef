// Safe file writes for every writer in vkrt (GGUF files, the pipeline cache,
// reports): the data goes to a temporary sibling file, which is fsync'd and
// then renamed over the target, so a reader never sees half a file and a crash
// never loses the old one. The target must be a new path or a regular file:
// a symlink, FIFO, device node, socket or directory is refused (an output of
// /dev/null must not replace /dev/null), and so is any file registered as an
// input of the running job with an InputGuard (compared by device and inode, so
// DIR/./m.gguf, a hard link or another spelling of the input is caught). Temporary files of writes in
// progress are removed on SIGINT/SIGTERM once install_signal_cleanup() ran
// (the samples do), or by remove_temporary_files() from an application's own
// signal handler.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace vkrt::io {

// Throws io_error naming `path` unless it is a new path or a regular file that is
// no registered input.
void check_output_path(const std::string& path);

// true when both paths exist and are the same file (device and inode).
bool same_file(const std::string& a, const std::string& b);

// While alive, no SafeWriter may replace this file (vkrt-quantize guards its input
// model for the whole run). Registered by device and inode.
class InputGuard {
public:
    InputGuard() = default;
    explicit InputGuard(const std::string& path);  // io_error if it cannot be stat'ed
    InputGuard(InputGuard&& o) noexcept;
    InputGuard& operator=(InputGuard&& o) noexcept;
    InputGuard(const InputGuard&) = delete;
    InputGuard& operator=(const InputGuard&) = delete;
    ~InputGuard();

private:
    void release();
    bool active_ = false;
    dev_t dev_ = 0;
    ino_t ino_ = 0;
};

// One safe write. The constructor checks the target and creates the temporary
// sibling "<path>.part-XXXXXX"; write() appends; commit() flushes, fsyncs,
// checks the target again and renames. Destroyed without commit() (an error, an
// exception), it removes the temporary file. Every failure is an io_error
// naming the path.
class SafeWriter {
public:
    explicit SafeWriter(const std::string& path);
    SafeWriter(const SafeWriter&) = delete;
    SafeWriter& operator=(const SafeWriter&) = delete;
    ~SafeWriter();

    void write(const void* data, size_t n);
    uint64_t bytes_written() const { return written_; }
    const std::string& path() const { return path_; }
    const std::string& temp_path() const { return temp_; }
    void commit();

private:
    void discard() noexcept;
    std::string path_, temp_;
    FILE* f_ = nullptr;
    int slot_ = -1;  // signal-cleanup slot
    uint64_t written_ = 0;
    bool committed_ = false;
};

// The whole of `data` to `path` through a SafeWriter.
void write_file(const std::string& path, std::string_view data);

// SIGINT/SIGTERM/SIGHUP: remove the temporary files of writes in progress, then
// die by the signal as before. Only replaces default dispositions (an
// application's own handler stays); safe to call more than once.
void install_signal_cleanup();
// Async-signal-safe: unlinks the temporary files of writes in progress.
void remove_temporary_files() noexcept;

}  // namespace vkrt::io
