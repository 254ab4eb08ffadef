// The q8_1 block writer shared by the kernels that write the q8_1 activation buffer
// (layout: shared/q8_1.h) from values they hold: the norms' (rmsnorm_row.glsl with
// VKRT_RMS_Q8_OUT: rmsnorm_q8_1.comp, rmsnorm_add_norm.comp) and the decode attention's
// output rows (attention.comp with Q8_OUT) and the GLU GEMV's (matvec.comp with EPI_Q8),
// so that every writer quantizes bit for bit alike (quantize_q8_1.comp's arithmetic). The
// includer declares the q8_1 buffer as uint words, named xq[] or the name it defines as
// Q8_OUT_WORDS, and includes shared/q8_1.h first.
#ifndef VKRT_Q8_1_GLSL
#define VKRT_Q8_1_GLSL
#ifndef Q8_OUT_WORDS
#define Q8_OUT_WORDS xq
#endif

int q8_round_away(float a) {
    const float t = trunc(a);
    return int(t) + ((abs(a - t) >= 0.5) ? int(sign(a)) : 0);
}

// Block g of the q8_1 buffer of M rows of K from its 32 values v (as quantize_q8_1.comp):
// d = max|v| / 127, q = clamp(round_half_away(v / d), -127, 127), and the sum of q.
void q8_1_store_block(uint M, uint K, uint g, float v[32]) {
    float amax = 0.0;
    for (uint j = 0u; j < 32u; ++j) amax = max(amax, abs(v[j]));
    const float d = amax / 127.0;
    int qsum = 0;
    for (uint i = 0u; i < 8u; ++i) {
        int q[4];
        for (uint j = 0u; j < 4u; ++j) {
            const float s = (d != 0.0) ? v[4u * i + j] / d : 0.0;
            q[j] = clamp(q8_round_away(s), -127, 127);
            qsum += q[j];
        }
        Q8_OUT_WORDS[g * 8u + i] = (uint(q[0]) & 0xffu) | ((uint(q[1]) & 0xffu) << 8) | ((uint(q[2]) & 0xffu) << 16) |
                         (uint(q[3]) << 24);
    }
    const uint meta = (M * K) / 4u + kQ8MetaWords * g;
    Q8_OUT_WORDS[meta] = floatBitsToUint(d);
    Q8_OUT_WORDS[meta + 1u] = uint(qsum);
}

#endif
