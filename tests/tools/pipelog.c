// pipelog: an LD_PRELOAD library that logs every compute pipeline a test process creates,
// to count the pipelines lavapipe compiles (on a clean machine most of a kernel test's
// time: docs/TESTING.md). Not part of the build; a measuring tool:
//
//   cc -O2 -shared -fPIC -o /tmp/pipelog.so tests/tools/pipelog.c -ldl
//   PIPELOG=/tmp/t.log LD_PRELOAD=/tmp/pipelog.so build/tests/test_kernels_matmul -tc=...
//   python3 tests/tools/pipelog.py build/shaders /tmp/t.log [/tmp/u.log ...]
//
// One line a vkCreateComputePipelines call: the FNV-1a hash of the shader module's SPIR-V,
// the specialization constants' words, the calling thread's CPU ms and the wall ms of the
// call. vkrt calls both entry points directly (linked against the loader), so these
// definitions take their place and forward to the loader's (dlsym RTLD_NEXT).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <vulkan/vulkan.h>

#define MAX_MODULES 65536

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static VkShaderModule modules[MAX_MODULES];
static uint64_t hashes[MAX_MODULES];
static int n_modules;

static uint64_t fnv1a(const void* p, size_t n) {
    const unsigned char* b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static double ms(clockid_t c) {
    struct timespec t;
    clock_gettime(c, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

// The log (PIPELOG, else stderr), line-buffered so that a killed process keeps its lines.
static FILE* log_file(void) {
    static FILE* f;
    if (!f) {
        const char* p = getenv("PIPELOG");
        f = p ? fopen(p, "a") : NULL;
        if (!f) f = stderr;
        setvbuf(f, NULL, _IOLBF, 0);
    }
    return f;
}

VKAPI_ATTR VkResult VKAPI_CALL vkCreateShaderModule(VkDevice d, const VkShaderModuleCreateInfo* ci,
                                                    const VkAllocationCallbacks* a, VkShaderModule* m) {
    static PFN_vkCreateShaderModule next;
    if (!next) next = (PFN_vkCreateShaderModule)dlsym(RTLD_NEXT, "vkCreateShaderModule");
    const VkResult r = next(d, ci, a, m);
    if (r == VK_SUCCESS) {
        pthread_mutex_lock(&mu);
        if (n_modules < MAX_MODULES) {
            modules[n_modules] = *m;
            hashes[n_modules++] = fnv1a(ci->pCode, ci->codeSize);
        }
        pthread_mutex_unlock(&mu);
    }
    return r;
}

VKAPI_ATTR VkResult VKAPI_CALL vkCreateComputePipelines(VkDevice d, VkPipelineCache c, uint32_t n,
                                                        const VkComputePipelineCreateInfo* ci,
                                                        const VkAllocationCallbacks* a, VkPipeline* p) {
    static PFN_vkCreateComputePipelines next;
    if (!next) next = (PFN_vkCreateComputePipelines)dlsym(RTLD_NEXT, "vkCreateComputePipelines");
    const double cpu0 = ms(CLOCK_THREAD_CPUTIME_ID), wall0 = ms(CLOCK_MONOTONIC);
    const VkResult r = next(d, c, n, ci, a, p);
    const double cpu = ms(CLOCK_THREAD_CPUTIME_ID) - cpu0, wall = ms(CLOCK_MONOTONIC) - wall0;
    for (uint32_t i = 0; i < n; ++i) {
        uint64_t h = 0;
        pthread_mutex_lock(&mu);
        for (int j = n_modules - 1; j >= 0; --j)  // the latest module of that handle (handles are reused)
            if (modules[j] == ci[i].stage.module) {
                h = hashes[j];
                break;
            }
        pthread_mutex_unlock(&mu);
        FILE* f = log_file();
        flockfile(f);
        fprintf(f, "%016llx [", (unsigned long long)h);
        const VkSpecializationInfo* si = ci[i].stage.pSpecializationInfo;
        for (size_t w = 0; si && w < si->dataSize / 4; ++w) fprintf(f, "%s%u", w ? "," : "", ((const uint32_t*)si->pData)[w]);
        fprintf(f, "] %.1f %.1f\n", cpu, wall);
        funlockfile(f);
    }
    return r;
}
