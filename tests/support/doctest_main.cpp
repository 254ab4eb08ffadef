// doctest main: runs the tests, then destroys the shared GPU devices before
// main returns (while the validation layer is still alive) and fails the
// process if the validation layer reported anything.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

#include "gpu.hpp"

int main(int argc, char** argv) {
    doctest::Context context(argc, argv);
    int rc = context.run();
    uint64_t messages = vkrt::test::release_devices();
    if (messages) {
        std::fprintf(stderr, "vkrt tests: %llu Vulkan validation message(s): failing\n",
                     static_cast<unsigned long long>(messages));
        if (rc == 0) rc = 1;
    }
    return rc;
}
