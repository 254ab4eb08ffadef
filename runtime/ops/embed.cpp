#include "ops/embed.hpp"

#include <algorithm>

#include "ops/dispatch.hpp"
#include "shared/embed.h"
#include "vk/shaders.hpp"

namespace vkrt::ops {

void embed(Recorder& rec, const WeightView& table, const BufferView& ids, const BufferView& out, uint32_t M) {
    VKRT_CHECK(M >= 1, Status::invalid_argument, "embed: empty shape M=", M, " n_embd=", table.cols,
               " n_vocab=", table.rows);
    check_weight(table, "embed", "table");
    const uint32_t n_embd = table.cols, n_vocab = table.rows;
    const uint64_t n = uint64_t(M) * n_embd;
    VKRT_CHECK(n <= 0xffffffffull, Status::limit_exceeded, "embed: output of ", n,
               " elements exceeds 32-bit addressing");
    require_bytes(ids, uint64_t(M) * 4, "embed", "ids");
    require_bytes(out, n * 4, "embed", "out");
    // Block formats: one invocation per 4 elements (see shaders/embed.comp).
    const uint32_t per = fmt::traits(table.type).block_elems > 1 ? 4 : 1;
    const uint32_t L = fit_local(rec.device().caps(), 256);
    const Pipeline& p = rec.device().pipeline(spv::format_kernel(spv::Family::embed, table.type, spv::Path::plain),
                                              {L, uint32_t(table.layout)});
    for (const WeightPart& part : table.parts) {
        const shader::EmbedPush pc{M, n_embd, n_vocab, part.rows, part.row0};
        rec.dispatch(p, {part.view, ids, out}, pc, groups_1d(rec.device(), n / per, L));
        // The kernel reads M rows of the table, not the whole bound part (Recorder counts).
        const uint64_t rows = std::min<uint64_t>(M, part.rows);
        rec.correct_read(part.view, rows * fmt::row_bytes(table.type, n_embd));
    }
}

void embed(Recorder& rec, const BufferView& table, Format type, const BufferView& ids, const BufferView& out,
           uint32_t M, uint32_t n_embd, uint32_t n_vocab) {
    embed(rec, single_part(table, type, n_vocab, n_embd), ids, out, M);
}

void check_ids(std::span<const int32_t> ids, uint32_t n_vocab) {
    for (size_t i = 0; i < ids.size(); ++i)
        VKRT_CHECK(ids[i] >= 0 && uint32_t(ids[i]) < n_vocab, Status::invalid_argument, "token id ", ids[i],
                   " (position ", i, ") is outside the vocabulary of ", n_vocab);
}

}  // namespace vkrt::ops
