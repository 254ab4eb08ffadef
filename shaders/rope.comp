#version 450
// Rotary position embedding (llama.cpp ggml_rope, modes NORM and NEOX):
//   x (M, n_head, head_dim) float, pos (M) int32 -> out (M, n_head, head_dim) float
// For pair i in [0, n_rot/2): theta = freq_scale * pos[m] * freq_base^(-2i/n_rot) / factor[i]
//   (float pow, as llama.cpp; factor = 1 without FACTORS, else the file's rope_freqs /
//   rope_factors_* values), cos and sin scaled by attn_factor (ggml_rope_ext, no YaRN ramp),
//   NORM (mode 0): (x[2i], x[2i+1])          rotated by theta
//   NEOX (mode 2): (x[i],  x[i + n_rot/2])   rotated by theta
//   (a, b) -> (a cos - b sin, a sin + b cos); dims >= n_rot are copied unchanged.
// Rows are addressed with strides (in floats) so that x can be a slice of a fused
// QKV row, and out can be a KV cache: with out_by_pos = 1 the result of row m goes
// to out row pos[m] (skipped when pos[m] is outside [0, n_ctx)): RoPE on K and the
// cache store in one pass. out may alias x (each thread reads its pair, then writes it).
//! variant rope FACTORS=0
//! variant rope_factors FACTORS=1
layout(local_size_x_id = 0) in;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) readonly buffer P { int pos[]; };
layout(binding = 2) writeonly buffer O { float o[]; };
#if FACTORS
layout(binding = 3) readonly buffer FF { float factors[]; };  // (n_rot/2)
#endif
layout(push_constant) uniform PC {
    uint M, n_head, head_dim, n_rot;
    float freq_base;
    uint neox;        // 0 = NORM (adjacent pairs), 1 = NEOX (halves)
    uint x_stride;    // floats between rows of x
    uint out_stride;  // floats between rows of out
    uint out_by_pos;  // 1: out row = pos[m] (a KV cache of n_ctx rows)
    uint n_ctx;
    float freq_scale;
    float attn_factor;
} pc;

void main() {
    const uint half_hd = pc.head_dim / 2u;
    const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    if (i >= pc.M * pc.n_head * half_hd) return;
    const uint pr = i % half_hd;  // pair index within the head
    const uint mh = i / half_hd;
    const uint h = mh % pc.n_head, m = mh / pc.n_head;
    const int p = pos[m];
    uint orow = m;
    if (pc.out_by_pos != 0u) {
        if (p < 0 || uint(p) >= pc.n_ctx) return;
        orow = uint(p);
    }
    const uint xb = m * pc.x_stride + h * pc.head_dim;
    const uint ob = orow * pc.out_stride + h * pc.head_dim;
    const uint half_rot = pc.n_rot / 2u;
    if (pr < half_rot) {
        uint i0, i1;
        if (pc.neox != 0u) { i0 = pr; i1 = pr + half_rot; }
        else               { i0 = 2u * pr; i1 = i0 + 1u; }
        float theta = pc.freq_scale * float(p) * pow(pc.freq_base, -2.0 * float(pr) / float(pc.n_rot));
#if FACTORS
        theta /= factors[pr];
#endif
        const float c = cos(theta) * pc.attn_factor, s = sin(theta) * pc.attn_factor;
        const float a = x[xb + i0], b = x[xb + i1];
        o[ob + i0] = a * c - b * s;
        o[ob + i1] = a * s + b * c;
    } else {
        // Pass-through dims: n_rot + 2*(pr - half_rot) and the next one.
        const uint j = pc.n_rot + 2u * (pr - half_rot);
        o[ob + j] = x[xb + j];
        o[ob + j + 1u] = x[xb + j + 1u];
    }
}
