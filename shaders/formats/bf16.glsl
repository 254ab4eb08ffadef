// BF16: the top 16 bits of a binary32, two elements a word (ggml_bf16_to_fp32: exact).
#define FMT_PAIRS 1
float fmt_elem(uint i) { return uintBitsToFloat(fmt_u16(2u * i) << 16); }
vec2 fmt_pair(uint j) {
    const uint v = w[j];
    return vec2(uintBitsToFloat(v << 16), uintBitsToFloat(v & 0xffff0000u));
}
