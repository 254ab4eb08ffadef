// F32: one 4-byte float per element.
float fmt_elem(uint i) { return uintBitsToFloat(w[i]); }
