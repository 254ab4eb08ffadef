// GPTQ-style error feedback (--gptq; seed "Hessian-guided quantization"): the rounding of each
// column sees the error already made on the columns before it.
//
// A linear's expected squared output error for a weight row error e is e^T H e, H = mean x x^T
// of its calibration inputs. GPTQ (Frantar et al. 2022) quantizes the columns of a row in order
// and, after column j, moves the still unquantized columns m > j by
//     w_m -= (w_j - q_j) / U_jj * U_jm,      U = upper Cholesky factor of H^-1 (H^-1 = U^T U),
// the least-squares compensation of column j's error by the columns left.
//
// Blocks: the scales of a block (Q4_K's super-block scale and sub-block scales/mins, IQ4's
// scales, ...) are chosen when the block is reached, from the columns as compensation has
// left them, by the registry's weighted encoder (one of quant/scale_search.hpp's weightings);
// the block's quants are then chosen one column at a time, each the representable value
// nearest the compensated weight with those scales. Which values are representable comes
// from the registry's decoder alone (QuantBits: the bits of a block that change exactly one
// element are that element's quant bits; decoding the block with every pattern in every
// element's quant bits lists each element's values), so there is no per-format code here.
//
// Order: the columns in file order, and "act order" (GPTQ's desc_act): within each block, the
// columns of largest H_jj first, so the most important columns are rounded while the most
// columns are left to take their error (blocks stay in order: a block's scales must be fixed
// before its columns are rounded).
//
// Refit: the scales chosen at a block's start do not see how the feedback inside the block moves
// its later columns (in a 256-element super-block most of its columns move before they are
// rounded). A refit pass fits the block's scales again, by the same weighted encoder, to the values
// the columns had when the first pass rounded them, restores the row as the block's start found
// it and rounds the block again with those scales.
//
// Each row keeps the least e^T H e among: GPTQ in each order (file, act, and group order when
// its factor was made), with and without the refit, with
// each of the scale search's weightings, and quantize_row_importance's result (no feedback), so
// the objective is never above the search's alone.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/format.hpp"

namespace vkrt::quant {

// Where a block of f keeps each element's quant bits (derived from the decoder, cached).
struct QuantBits {
    uint32_t per_elem = 0;       // quant bits per element (the same for all)
    std::vector<uint32_t> bit;   // (block_elems, per_elem) bit positions in the block, element-major
};
// Throws Status::unsupported when f's blocks do not split into per-element quant bits of equal
// width (every ggml block format does) or f has no encoder / decoder.
const QuantBits& quant_bits(Format f);

// The factor GPTQ needs for one column order perm (k; empty = 0..k-1), from H (k,k) row-major
// mean x x^T: U (k,k), upper triangular, (P H_d P^T)^-1 = U^T U, where H_d = H with its dead
// columns (H_jj = 0) set to 1 and damp * mean(diag) added to the diagonal (GPTQ's dampening,
// default 1%), and (P H P^T)_ij = H_perm[i],perm[j].
std::vector<double> gptq_factor(const float* H, size_t k, double damp = 0.01, const std::vector<uint32_t>& perm = {});

// The orders' factors of one tensor (made once per tensor; block = the format's block).
// An order is a permutation whose positions [b*block, (b+1)*block) hold the columns of one
// format block (the block's scales are chosen when its first column is reached).
struct GptqFactors {
    std::vector<uint32_t> act_perm;   // (k) act order: per block, columns by H_jj descending
    std::vector<double> natural, act;  // gptq_factor for 0..k-1 and for act_perm
    // Group order (with `group`; else empty): GPTQ's act order kept to groups of 32 columns
    // (a block's sub-blocks): the blocks by their summed H_jj descending, inside a block its
    // 32-column groups by summed H_jj descending, inside a group its columns by H_jj descending.
    std::vector<uint32_t> group_perm;
    std::vector<double> group;
};
GptqFactors gptq_factors(const float* H, size_t k, size_t block, double damp = 0.01, bool group = false);
// The group order above (k columns in blocks of `block`, groups of min(32, block)).
std::vector<uint32_t> gptq_group_order(const float* H, size_t k, size_t block);

// One row x (k) -> dst (row_bytes(f, k)). imp (k): mean x^2 (H's diagonal); H (k,k) and its
// factors. f must have an encoder and a block of more than one element.
void quantize_row_gptq(Format f, const float* x, void* dst, size_t k, const float* imp, const float* H,
                       const GptqFactors& g);

// e^T H e for e = x - decode(q) over one row: the objective above.
double hessian_error(Format f, const float* x, const void* q, size_t k, const float* H);

}  // namespace vkrt::quant
