// Push constants of the element-wise kernels: shaders/add.comp, shaders/swiglu.comp;
// host side runtime/ops/elementwise.cpp.
#ifndef VKRT_SHARED_ELEMENTWISE_H
#define VKRT_SHARED_ELEMENTWISE_H
#include "shared/shared.h"
VKRT_SHARED_BEGIN

struct AddPush {
    uint n;
};
VKRT_SIZE_CHECK(AddPush, 1)

struct AddBiasPush {
    uint n, nb;  // out (n) = a (n) + b[i % nb]
};
VKRT_SIZE_CHECK(AddBiasPush, 2)

struct ScalePush {
    uint n;
    float s;
};
VKRT_SIZE_CHECK(ScalePush, 2)

// out (M,F) = act(gate) * up, n = M*F; element (m, f) of gate and of up at m*stride + f
// (stride = F for plain (M,F) inputs; the fused [gate | up] output of one matrix has
// stride = its row, up bound at the up slice).
struct GluPush {
    uint n, F, stride;
};
VKRT_SIZE_CHECK(GluPush, 3)

VKRT_SHARED_END
#endif
