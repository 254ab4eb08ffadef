// W8A8 end to end on the real model: vkrt-quantize's library writes each W8A8
// variant of stories260K, the runtime loads it (I8 weights, int8 GEMM with
// per-token or calibrated activation quantization) and its perplexity on the
// evaluation text stays within the issue's +1% of F32. Also a bad combination
// gives a named error.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gguf/synthetic.hpp"
#include "gpu.hpp"
#include "model/model.hpp"
#include "model/perplexity.hpp"
#include "quant/quantize.hpp"
#include "test_util.hpp"

using namespace vkrt;

namespace {

std::string text() { return test::read_file(test::models_dir() + "/tinystories_valid_head.txt"); }

// 8 chunks of 512 keep this under a minute on lavapipe.
constexpr int kChunks = 8;

double ppl(Device& dev, const std::string& path, const std::string& t) {
    model::Model model(dev, path);
    return perplexity(model, t, 512, kChunks).ppl;
}

}  // namespace

TEST_CASE("W8A8 stories260K: dynamic, smoothed, asymmetric and static files run within +1% of F32") {
    Device& dev = test::gpu();
    const std::string t = text();
    const std::string f32 = test::models_dir() + "/stories260K.gguf";
    const double base = ppl(dev, f32, t);
    struct Case {
        const char* name;
        quant::QuantType type;
        bool smooth, asym;
        quant::Calibrator cal;
    };
    using QT = quant::QuantType;
    using C = quant::Calibrator;
    const Case cases[] = {
        {"w8a8_nosmooth", QT::w8a8, false, false, C::max},
        {"w8a8_smooth", QT::w8a8, true, false, C::max},
        {"w8a8_asym", QT::w8a8, true, true, C::max},
        {"w8a8_static_percentile", QT::w8a8_static, true, false, C::percentile},
    };
    for (const Case& c : cases) {
        const std::string name = c.name;
        CAPTURE(name);
        quant::QuantizeOptions o;
        o.type = c.type;
        o.smooth = c.smooth;
        o.asym = c.asym;
        o.calibrator = c.cal;
        o.calib_text = test::models_dir() + "/tinystories_valid_head.txt";
        o.calib_tokens = 2048;
        const std::string path = test::tmp_dir() + "/" + c.name + ".gguf";
        quant::quantize_gguf(f32, path, o);
        {
            model::Model m(dev, path);
            REQUIRE(m.w8a8());
            CHECK(m.act_quant().asymmetric == c.asym);
            CHECK(m.act_quant().static_scale == (c.type == QT::w8a8_static));
        }
        const double p = ppl(dev, path, t);
        MESSAGE(c.name << ": perplexity " << p << " vs F32 " << base << " (" << (p / base - 1) * 100 << "%)");
        CHECK(p < base * 1.01);
        CHECK(p > base * 0.97);  // not suspiciously better: same model, small noise
        std::filesystem::remove(path);
    }
    CHECK_NO_VALIDATION(dev);
}

TEST_CASE("W8A8: static + asymmetric activations are refused with a named error") {
    Device& dev = test::gpu();
    quant::QuantizeOptions o;
    o.type = quant::QuantType::w8a8_static;
    o.asym = true;
    o.calib_text = test::models_dir() + "/tinystories_valid_head.txt";
    o.calib_tokens = 512;
    const std::string path = test::tmp_dir() + "/w8a8_static_asym.gguf";
    quant::quantize_gguf(test::models_dir() + "/stories260K.gguf", path, o);
    CHECK_THROWS_WITH_AS(model::Model(dev, path), doctest::Contains("static asymmetric"), vkrt::Error);
    std::filesystem::remove(path);
    CHECK_NO_VALIDATION(dev);
}

TEST_CASE("W8A8 synthetic llama (as vkrt-bench --type w8a8 writes it) tracks its float twin") {
    // Same seed, same float weights before quantization: the I8 file's logits
    // stay close to the F32 file's (weight + activation quantization error only).
    Device& dev = test::gpu();
    gguf::SyntheticLlama cfg = gguf::preset("tiny", gguf::TensorType::F32);
    cfg.n_embd = 128;
    cfg.n_ff = 256;
    const std::string f32 = test::tmp_dir() + "/twin_f32.gguf", w8 = test::tmp_dir() + "/twin_w8a8.gguf";
    gguf::write_synthetic_llama(cfg, f32);
    cfg.wtype = gguf::TensorType::I8;
    gguf::write_synthetic_llama(cfg, w8);
    model::Model mf(dev, f32), mq(dev, w8);
    REQUIRE(mq.w8a8());
    model::Session sf(mf, 32, 8), sq(mq, 32, 8);
    const std::vector<int32_t> prompt = {1, 50, 260, 7, 99, 280, 3};
    auto lf = sf.eval(prompt), lq = sq.eval(prompt);
    double num = 0, den = 0;
    for (size_t i = 0; i < lf.size(); ++i) {
        num += (lf[i] - lq[i]) * (lf[i] - lq[i]);
        den += lf[i] * lf[i];
    }
    const double rel = std::sqrt(num / den);
    MESSAGE("relative logit error W8A8 vs F32: " << rel);
    constexpr double kW8A8LogitRelTol = 0.05;  // int8 weights and activations: ~1% expected
    CHECK(rel < kW8A8LogitRelTol);
    std::filesystem::remove(f32);
    std::filesystem::remove(w8);
    CHECK_NO_VALIDATION(dev);
}
