#include "ref_model.hpp"

#include "gguf/gguf.hpp"
#include "quant/calibrate.hpp"

namespace vkrt::test {

RefModel::RefModel(const std::string& path, uint32_t n_ctx, uint32_t type_k, uint32_t type_v) {
    quant::FloatLlama m = quant::load_float_llama(gguf::File::open(path), n_ctx);
    m.cfg.type_k = type_k;
    m.cfg.type_v = type_v;
    llama_ = std::make_unique<ref::RefModel>(m.cfg, std::move(m.w));
}

}  // namespace vkrt::test
