// llama.cpp's importance matrix: per linear weight tensor, the mean of x_j^2 over the
// calibration tokens for each input column j (what llama-imatrix collects and
// llama-quantize --imatrix reads). vkrt's calibration collects the same (ActStats::chan_sumsq)
// and the weighted encoders (fmt::quantize_row_weighted) take one entry per row.
//
// Files (both directions, so each tool reads the other's):
//   GGUF (llama-imatrix's default since 2025, and what vkrt writes): general.type = "imatrix",
//     imatrix.datasets (string array), imatrix.chunk_count, imatrix.chunk_size (u32), and per
//     tensor "<name>.in_sum2" F32 (ne0, n_mat) = sum of x^2 and "<name>.counts" F32 (1, n_mat)
//     = tokens summed; the importance is in_sum2 / counts (1 where counts is 0).
//   legacy .dat (llama-imatrix --output-format dat): int32 n_entries, then per entry int32 len,
//     name, int32 ncall, int32 nval, nval floats (= mean * ncall); then int32 chunk count and
//     a dataset name. The importance is value / ncall.
// Dense models only (n_mat = 1: no experts).
// vkrt's extension (GGUF only): "<name>.in_xxt" F32 (ne0, ne0) = sum of x x^T over the same
// tokens, for the correlation-aware scale search (quant/scale_search.hpp). llama.cpp's
// loader reads only the .in_sum2 / .counts pairs, so such a file still works in
// llama-quantize --imatrix; --imatrix-out writes it when the model is small enough.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace vkrt::quant {

struct ImatrixEntry {
    std::vector<float> sum2;  // (ne0) sum of x^2 over `count` tokens
    float count = 0;
    std::vector<float> xxt;   // vkrt's extension: (ne0, ne0) sum of x x^T, or empty (see below)
    std::vector<float> importance() const;  // sum2 / count, or all 1 when count is 0
};

struct Imatrix {
    std::map<std::string, ImatrixEntry> entries;  // by weight tensor name ("blk.0.attn_q.weight")
    std::vector<std::string> datasets;
    uint32_t chunk_count = 0, chunk_size = 0;
};

// Reads either format (by content: a GGUF magic or not); throws Status::invalid_argument /
// io_error naming the file and what is wrong (truncated, not an imatrix, experts).
Imatrix read_imatrix(const std::string& path);
// Writes GGUF through the safe writer (a temporary file renamed into place).
void write_imatrix(const std::string& path, const Imatrix& m);

}  // namespace vkrt::quant
