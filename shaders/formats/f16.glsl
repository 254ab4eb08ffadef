// F16: IEEE binary16, two elements a word.
#define FMT_PAIRS 1
float fmt_elem(uint i) { return VKRT_LOAD_F16(w, 2u * i); }
vec2 fmt_pair(uint j) { return vkrt_half2_to_float(w[j]); }
