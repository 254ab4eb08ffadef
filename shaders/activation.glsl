// The gated-activation functions (ref: runtime/ref/reference.hpp silu / gelu_tanh), for the
// kernels that apply them: swiglu.comp and the GEMV epilogues of matvec.comp.
#ifndef VKRT_ACTIVATION_GLSL
#define VKRT_ACTIVATION_GLSL
// silu(a) = a / (1 + exp(-a))
float act_silu(float a) { return a / (1.0 + exp(-a)); }
// gelu(a), tanh approximation (ggml_gelu): 0.5 a (1 + tanh(sqrt(2/pi) a (1 + 0.044715 a^2))),
// with tanh(z) = 1 - 2 / (exp(2z) + 1): finite for every z (exp overflow gives 1).
float act_gelu(float a) {
    const float z = 0.7978845608028654 * a * (1.0 + 0.044715 * a * a);
    const float t = 1.0 - 2.0 / (exp(2.0 * z) + 1.0);
    return 0.5 * a * (1.0 + t);
}
#endif
