// Installed-package consumer (C++ API): tokenize, evaluate, sample greedily.
#include <cstdio>
#include <vkrt/vkrt.hpp>

int main(int argc, char** argv) {
    if (argc < 2) return 2;
    try {
        vkrt::Context ctx;
        vkrt::Model model(ctx, argv[1]);
        vkrt::Session session(model);
        auto ids = model.tokenize("Once upon a time");
        session.eval(ids);
        vkrt_sampler_params sp = vkrt_sampler_default_params();
        sp.temperature = 0.0f;
        std::vector<int32_t> out;
        for (int i = 0; i < 8; ++i) {
            int32_t t = session.sample(sp);
            out.push_back(t);
            session.eval({t});
        }
        std::printf("consumer_cpp: %s|%s\n", model.detokenize(ids).c_str(), model.detokenize(out).c_str());
        return out.empty() ? 1 : 0;
    } catch (const vkrt::Exception& e) {
        std::fprintf(stderr, "consumer_cpp: %s\n", e.what());
        return 1;
    }
}
