// Safe writes: the GGUF writer (and every other writer) goes through a fsync'd
// temporary sibling and a rename that only replaces a regular file or creates a
// new one; FIFOs, device nodes, symlinks, directories and the input file under
// any spelling are refused; a SIGTERM/SIGINT mid-write leaves no temporary file.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gguf/gguf.hpp"
#include "io/safe_write.hpp"
#include "test_util.hpp"

using namespace vkrt;
namespace fs = std::filesystem;

namespace {

// A fresh empty directory for one test case.
std::string fresh_dir(const std::string& name) {
    const std::string d = test::tmp_dir() + "/test_safe_write_" + name;
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

gguf::Writer small_writer() {
    gguf::Writer w;
    w.set_string("general.architecture", "llama");
    w.add_tensor("t.weight", gguf::TensorType::F32, {8}, std::vector<uint8_t>(32, 7));
    return w;
}

// Files in `dir` whose names contain ".part" (temporary files left behind).
int leftovers(const std::string& dir) {
    int n = 0;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().filename().string().find(".part") != std::string::npos) ++n;
    return n;
}

std::string read_all(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

void expect_refused(const std::function<void()>& fn, const std::string& needle) {
    try {
        fn();
        FAIL("expected an error containing '", needle, "'");
    } catch (const Error& e) {
        CHECK(e.status() == Status::io_error);
        CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos, "message: ", e.what());
    }
}

}  // namespace

TEST_CASE("safe write: new path and regular file are written whole, nothing left behind") {
    const std::string d = fresh_dir("basic");
    const std::string p = d + "/out.gguf";
    small_writer().write(p);
    CHECK(gguf::File::open(p).tensors().size() == 1);
    {
        std::ofstream f(p, std::ios::trunc);
        f << "old contents";
    }
    small_writer().write(p);  // replaces a regular file
    CHECK(gguf::File::open(p).tensors().size() == 1);
    CHECK(leftovers(d) == 0);
    // Mode as a plain create would give it (not mkstemp's 0600).
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    const mode_t um = ::umask(022);
    ::umask(um);
    CHECK((st.st_mode & 0777) == (0666 & ~um));
}

TEST_CASE("safe write: a FIFO, a symlink, a directory and a device node are refused and left alone") {
    const std::string d = fresh_dir("special");
    const std::string fifo = d + "/fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);
    expect_refused([&] { small_writer().write(fifo); }, "it is a FIFO");
    CHECK(fs::is_fifo(fifo));

    const std::string target = d + "/target.txt", link = d + "/link.gguf";
    {
        std::ofstream f(target);
        f << "keep me";
    }
    fs::create_symlink(target, link);
    expect_refused([&] { small_writer().write(link); }, "it is a symbolic link");
    CHECK(fs::is_symlink(link));
    CHECK(read_all(target) == "keep me");

    const std::string null_link = d + "/null.gguf";
    fs::create_symlink("/dev/null", null_link);
    expect_refused([&] { small_writer().write(null_link); }, "it is a symbolic link");

    const std::string dir = d + "/sub";
    fs::create_directories(dir);
    expect_refused([&] { small_writer().write(dir); }, "it is a directory");
    CHECK(fs::is_directory(dir));

    // A device node: only the check runs (as root, the old writer replaced /dev/null).
    expect_refused([] { io::check_output_path("/dev/null"); }, "it is a character device");
    CHECK(fs::is_character_file("/dev/null"));
    CHECK(leftovers(d) == 0);
}

TEST_CASE("safe write: the input file under another spelling or a hard link is refused") {
    const std::string d = fresh_dir("input");
    const std::string in = d + "/m.gguf";
    small_writer().write(in);
    const std::string before = read_all(in);
    {
        const io::InputGuard guard(in);  // as vkrt-quantize guards its model
        expect_refused([&] { small_writer().write(d + "/./m.gguf"); }, "it is the input file");
        expect_refused([&] { small_writer().write(d + "/../" + fs::path(d).filename().string() + "/m.gguf"); },
                       "it is the input file");
        const std::string hard = d + "/hard.gguf";
        fs::create_hard_link(in, hard);
        expect_refused([&] { small_writer().write(hard); }, "it is the input file");
        expect_refused([&] { io::write_file(hard, "report"); }, "it is the input file");
        CHECK(io::same_file(in, d + "/./m.gguf"));
        CHECK(io::same_file(in, hard));
    }
    CHECK(read_all(in) == before);
    // Closed again: writable.
    small_writer().write(d + "/./m.gguf");
    CHECK(leftovers(d) == 0);
}

TEST_CASE("safe write: an error mid-write removes the temporary file and keeps the old file") {
    const std::string d = fresh_dir("error");
    const std::string p = d + "/out.gguf";
    {
        std::ofstream f(p);
        f << "old";
    }
    gguf::Writer w;
    w.add_tensor_rows("rows", gguf::TensorType::F32, {4, 4}, [](uint64_t, uint64_t, uint8_t*) {
        fail(Status::internal, "fill failed on purpose");
    });
    CHECK_THROWS_WITH_AS(w.write(p), doctest::Contains("on purpose"), Error);
    CHECK(read_all(p) == "old");
    CHECK(leftovers(d) == 0);
}

TEST_CASE("safe write: SIGTERM and SIGINT during a write remove the temporary file") {
    for (int sig : {SIGTERM, SIGINT}) {
        const std::string d = fresh_dir("signal" + std::to_string(sig));
        const std::string p = d + "/out.gguf";
        // A child process (this test binary makes no threads): a write in progress, then the signal.
        const pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            // doctest's own crash handlers are installed; a process starts with the defaults,
            // and install_signal_cleanup only replaces defaults.
            ::signal(SIGTERM, SIG_DFL);
            ::signal(SIGINT, SIG_DFL);
            io::install_signal_cleanup();
            io::SafeWriter w(p);
            w.write("GGUF", 4);
            if (!fs::exists(w.temp_path())) ::_exit(3);
            ::raise(sig);
            ::_exit(4);  // not reached: the signal kills the process
        }
        int status = 0;
        REQUIRE(::waitpid(pid, &status, 0) == pid);
        CHECK(WIFSIGNALED(status));
        CHECK(WTERMSIG(status) == sig);
        CHECK(leftovers(d) == 0);
        CHECK(!fs::exists(p));
    }
}
