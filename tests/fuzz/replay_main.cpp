// Runs a fuzz target's LLVMFuzzerTestOneInput once on every file given (or found
// in the directories given): the seed corpus and the inputs that once crashed
// become ordinary regression tests, with any compiler.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
    namespace fs = std::filesystem;
    size_t n = 0;
    auto run = [&](const fs::path& p) {
        std::ifstream f(p, std::ios::binary);
        std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), {});
        LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
        ++n;
    };
    for (int i = 1; i < argc; ++i) {
        const fs::path p(argv[i]);
        if (!fs::exists(p)) {
            std::fprintf(stderr, "no such file or directory: %s\n", argv[i]);
            return 1;
        }
        if (fs::is_directory(p)) {
            for (const auto& e : fs::recursive_directory_iterator(p))
                if (e.is_regular_file() && e.path().filename() != "README.md") run(e.path());
        } else {
            run(p);
        }
    }
    std::printf("replayed %zu input(s)\n", n);
    return n > 0 ? 0 : 1;
}
