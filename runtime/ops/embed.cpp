#include "ops/embed.hpp"

#include "ops/dispatch.hpp"
#include "types.h"

namespace vkrt::ops {

void embed(Recorder& rec, const BufferView& table, gguf::TensorType type, const BufferView& ids,
           const BufferView& out, uint32_t M, uint32_t n_embd, uint32_t n_vocab) {
    VKRT_CHECK(M >= 1 && n_embd >= 1 && n_vocab >= 1, Status::invalid_argument, "embed: empty shape M=", M,
               " n_embd=", n_embd, " n_vocab=", n_vocab);
    uint32_t type_id = 0;
    uint64_t row_bytes = 0;
    switch (type) {
        case gguf::TensorType::F32: type_id = VKRT_TYPE_F32; row_bytes = uint64_t(n_embd) * 4; break;
        case gguf::TensorType::F16: type_id = VKRT_TYPE_F16; row_bytes = uint64_t(n_embd) * 2; break;
        case gguf::TensorType::Q4_0: type_id = VKRT_TYPE_Q4_0; row_bytes = uint64_t(n_embd) / VKRT_QK4_0 * VKRT_Q4_0_BYTES; break;
        case gguf::TensorType::Q8_0: type_id = VKRT_TYPE_Q8_0; row_bytes = uint64_t(n_embd) / VKRT_QK8_0 * VKRT_Q8_0_BYTES; break;
        default:
            fail(Status::unsupported, "embed: table type ", uint32_t(type), " is not supported (F32, F16, Q4_0, Q8_0)");
    }
    if (type == gguf::TensorType::Q4_0 || type == gguf::TensorType::Q8_0)
        VKRT_CHECK(n_embd % 32 == 0, Status::invalid_argument, "embed: n_embd (", n_embd,
                   ") must be a multiple of 32 for a block-quantized table");
    const uint64_t n = uint64_t(M) * n_embd;
    // The shader addresses table bytes with 32-bit offsets.
    VKRT_CHECK(n <= 0xffffffffull && row_bytes * n_vocab <= 0xffffffffull, Status::limit_exceeded,
               "embed: table or output exceeds 4 GiB addressing");
    // The shader reads whole 32-bit words: the view must cover the table rounded up to 4 bytes.
    require_bytes(table, (row_bytes * n_vocab + 3) / 4 * 4, "embed", "table");
    require_bytes(ids, uint64_t(M) * 4, "embed", "ids");
    require_bytes(out, n * 4, "embed", "out");
    constexpr uint32_t kLocal = 256;
    struct { uint32_t M, n_embd, n_vocab, type; } pc{M, n_embd, n_vocab, type_id};
    rec.dispatch(rec.device().pipeline("embed", {kLocal}), {table, ids, out}, pc, groups_1d(rec.device(), n, kLocal));
}

void check_ids(std::span<const int32_t> ids, uint32_t n_vocab) {
    for (size_t i = 0; i < ids.size(); ++i)
        VKRT_CHECK(ids[i] >= 0 && uint32_t(ids[i]) < n_vocab, Status::invalid_argument, "token id ", ids[i],
                   " (position ", i, ") is outside the vocabulary of ", n_vocab);
}

}  // namespace vkrt::ops
