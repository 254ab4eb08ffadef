// libFuzzer target: the GGUF reader and what reads GGUF metadata without a GPU
// (llama hyper-parameters, the tokenizer). Any input must end in success or a
// vkrt::Error; anything else (a crash, a sanitizer report, another exception,
// an allocation beyond libFuzzer's -malloc_limit_mb) is a finding.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "gguf/gguf.hpp"
#include "arch/arch.hpp"
#include "model/model.hpp"
#include "text/tokenizer.hpp"

namespace {

// The input as a file: gguf::File maps a path, and an in-memory file keeps the
// fuzzer off the disk.
int memfd() {
    static const int fd = [] {
        const int f = ::memfd_create("vkrt-fuzz-gguf", MFD_CLOEXEC);
        if (f < 0) {
            std::perror("memfd_create");
            std::abort();
        }
        return f;
    }();
    return fd;
}

void exercise(const vkrt::gguf::File& f) {
    for (const auto& [key, v] : f.metadata()) {
        if (v.type == vkrt::gguf::ValueType::ARRAY) (void)v.as_array(key).size();
    }
    size_t sum = 0;
    for (const auto& t : f.tensors()) sum += t.n_bytes ? t.data[0] + t.data[t.n_bytes - 1] : 0;
    (void)sum;
    try {
        (void)vkrt::arch::read_hparams(f);
    } catch (const vkrt::Error&) {
    }
    try {
        const vkrt::Tokenizer tok = vkrt::Tokenizer::from_gguf(f);
        const auto ids = tok.encode("Hello world, <s> once upon a time \xE2\x96\x81 caf\xC3\xA9 123", true, true);
        (void)tok.decode(ids, true);
        for (int32_t id = 0; id < tok.n_vocab() && id < 64; ++id) (void)tok.token_to_piece(id, true);
    } catch (const vkrt::Error&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const int fd = memfd();
    if (::ftruncate(fd, 0) != 0 || (size && ::pwrite(fd, data, size, 0) != ssize_t(size))) std::abort();
    try {
        const vkrt::gguf::File f = vkrt::gguf::File::open("/proc/self/fd/" + std::to_string(fd));
        exercise(f);
    } catch (const vkrt::Error&) {
        // a named error is the expected outcome of a bad file
    }
    return 0;
}
