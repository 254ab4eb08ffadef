// The rotation of llama.cpp's ggml_rope (modes NORM and NEOX, no YaRN ramp), one definition
// for the kernels that rotate: rope.comp (rope, rope_store) and rope_qkv.comp (the fused q/k/v
// step), so that both round every element the same way (ref: runtime/ref rope).
// The includer declares `pc` with freq_base, freq_scale, n_rot and attn_factor
// (shaders/shared/rope.h), and, where frequency factors apply, `factors[]` (n_rot/2 floats,
// the file's rope_freqs / rope_factors_*) that divides each pair's angle: always where
// ROPE_FACTORS is a non-zero preprocessor value (rope.comp's FACTORS variants), or where the
// condition ROPE_FACTORS_SPEC holds (rope_qkv.comp's specialization constant: a uniform
// branch the driver removes).
#ifndef VKRT_ROPE_GLSL
#define VKRT_ROPE_GLSL

// The angle of pair pr at position p: freq_scale * p * freq_base^(-2 pr / n_rot) [/ factor]
// (float pow, as llama.cpp).
float theta_of(int p, uint pr) {
    float theta = pc.freq_scale * float(p) * pow(pc.freq_base, -2.0 * float(pr) / float(pc.n_rot));
#if defined(ROPE_FACTORS_SPEC)
    if (ROPE_FACTORS_SPEC) theta /= factors[pr];
#elif defined(ROPE_FACTORS) && ROPE_FACTORS
    theta /= factors[pr];
#endif
    return theta;
}

// The rotated pair (a, b) by theta, cos and sin scaled by attn_factor: (a c - b s, a s + b c),
// `precise` so that no compiler contracts it into FMAs one kernel would use and another not.
vec2 rotate(float a, float b, float theta) {
    const float c = cos(theta) * pc.attn_factor, s = sin(theta) * pc.attn_factor;
    precise vec2 r;
    r.x = a * c - b * s;
    r.y = a * s + b * c;
    return r;
}

#endif
