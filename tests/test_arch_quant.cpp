// The quantization toolkit on every architecture's file in ../shared/models/arch:
// calibration through the reference forward pass, SmoothQuant keeping the float model,
// the sensitivity table over the description's linears (fused tensors as stored), and
// vkrt-quantize's Q8_0 / Q4_0 / W8A8 files running on the GPU model close to the F32 file.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gpu.hpp"
#include "model/model.hpp"
#include "model/perplexity.hpp"
#include "quant/calibrate.hpp"
#include "quant/quantize.hpp"
#include "quant/sensitivity.hpp"
#include "quant/smoothquant.hpp"
#include "test_util.hpp"

using namespace vkrt;

namespace {

const std::string& text_path() {
    static const std::string p = test::models_dir() + "/tinystories_valid_head.txt";
    return p;
}

std::string read_all(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    REQUIRE(f.good());
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

double rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
    double num = 0, den = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        num += (double(a[i]) - double(b[i])) * (double(a[i]) - double(b[i]));
        den += double(a[i]) * double(a[i]);
    }
    return std::sqrt(num / den);
}

// 2 chunks of 512: enough to compare files of one model on the same tokens.
constexpr int kChunks = 2;

}  // namespace

TEST_CASE("quantization on every architecture: calibration, SmoothQuant, sensitivity, Q8_0 / Q4_0 / W8A8 files") {
    Device& dev = test::gpu();
    const std::string text = read_all(text_path());
    struct Case {
        std::string file;
        size_t linears_per_layer;
        std::string fused;  // a fused tensor's name ("" = none)
    };
    const Case cases[] = {{"llama_ropefreqs-f32", 7, ""},
                          {"qwen2-f32", 7, ""},
                          {"qwen3-f32", 7, ""},
                          {"gemma3-f32", 7, ""},
                          {"phi3-f32", 4, "blk.0.attn_qkv.weight"}};
    for (const Case& c : cases) {
        CAPTURE(c.file);
        const std::string src = test::models_dir() + "/arch/" + c.file + ".gguf";
        gguf::File f = gguf::File::open(src);

        // Calibration and SmoothQuant on the reference model: the smoothed model computes the same logits.
        quant::FloatLlama m = quant::load_float_llama(f, 256);
        const quant::CalibData data = quant::calibration_sequences(f, text, 256);
        const quant::CalibStats st = quant::collect_stats(m, nullptr, data, {2048, 32});
        REQUIRE(st.layers.size() == 5);
        CHECK(st.at(0, quant::Site::attn_out).K == m.cfg.q_dim());
        std::vector<int32_t> toks(data.seqs[0].begin(), data.seqs[0].begin() + 40);
        quant::InstrumentedModel base(m.cfg, m.w);
        const std::vector<float> y0 = base.forward(toks, 0);
        const quant::Smoothing sm = quant::compute_smoothing(m.cfg, m.w, st, 0.5f);
        ref::RefWeights w2 = m.w;
        quant::apply_smoothing(w2, m.cfg, sm);
        quant::InstrumentedModel smoothed(m.cfg, w2, &sm);
        const double rd = rel_diff(y0, smoothed.forward(toks, 0));
        CHECK(rd < 1e-4);

        // Sensitivity: one entry per linear tensor of the file.
        const auto entries = quant::analyze_sensitivity(m, st, &sm);
        CHECK(entries.size() == 5 * c.linears_per_layer);
        for (const auto& e : entries) CHECK(f.find_tensor(e.name) != nullptr);
        if (!c.fused.empty()) {
            bool found = false;
            for (const auto& e : entries) found = found || e.name == c.fused;
            CHECK(found);
        }

        // Files: F32 baseline, then each quantization through the GPU model.
        double base_ppl;
        {
            model::Model model(dev, src);
            base_ppl = perplexity(model, text, 512, kChunks).ppl;
        }
        struct Q {
            quant::QuantType type;
            double max_rel_increase;
        };
        for (Q q : {Q{quant::QuantType::q8_0, 0.01}, Q{quant::QuantType::w8a8, 0.05},
                    Q{quant::QuantType::q4_0, 0.5}}) {
            const std::string qname = quant::quant_type_name(q.type);
            CAPTURE(qname);
            quant::QuantizeOptions o;
            o.type = q.type;
            o.calib_text = text_path();
            o.calib_tokens = 512;
            const std::string out = test::tmp_dir() + "/archq_" + c.file + "_" + quant::quant_type_name(q.type) + ".gguf";
            quant::quantize_gguf(src, out, o);
            model::Model model(dev, out);
            const double p = perplexity(model, text, 512, kChunks).ppl;
            MESSAGE(c.file << " " << qname << ": perplexity " << p << " (F32 " << base_ppl
                           << ")");
            CHECK(std::isfinite(p));
            CHECK(p < base_ppl * (1 + q.max_rel_increase));
            std::filesystem::remove(out);
        }
    }
    CHECK_NO_VALIDATION(dev);
}
