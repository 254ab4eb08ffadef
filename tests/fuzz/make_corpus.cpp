// Writes the GGUF seed corpus of fuzz_gguf (tests/fuzz/corpus/gguf): small files
// that reach every part of the reader and of what reads metadata. Built with
// -DVKRT_BUILD_FUZZERS=ON; run: vkrt_fuzz_make_corpus tests/fuzz/corpus/gguf MODELS_DIR
#include <cstdio>
#include <string>

#include "gguf/gguf.hpp"
#include "gguf/synthetic.hpp"

using namespace vkrt::gguf;

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s OUT_DIR MODELS_DIR\n", argv[0]);
        return 2;
    }
    const std::string out = argv[1], models = argv[2];

    {  // every value type, nested arrays, one tensor of each supported type
        Writer w;
        w.set_u32("a.u32", 7);
        w.set_i32("a.i32", -7);
        w.set_f32("a.f32", 1.5f);
        w.set_bool("a.bool", true);
        w.set_string("a.str", "hello");
        w.set_string_array("a.strs", {"x", "yy", ""});
        w.set_f32_array("a.f32s", {1, 2, 3});
        w.set_i32_array("a.i32s", {-1, 0, 1});
        w.add_tensor("f32", TensorType::F32, {4}, std::vector<uint8_t>(16, 1));
        w.add_tensor("f16", TensorType::F16, {4, 2}, std::vector<uint8_t>(16, 2));
        w.add_tensor("q4_0", TensorType::Q4_0, {32}, std::vector<uint8_t>(18, 3));
        w.add_tensor("q8_0", TensorType::Q8_0, {32}, std::vector<uint8_t>(34, 4));
        w.add_tensor("i8", TensorType::I8, {8}, std::vector<uint8_t>(8, 5));
        w.add_tensor("i32", TensorType::I32, {2}, std::vector<uint8_t>(8, 6));
        w.write(out + "/all_types", 32);
    }
    {  // stories260K's metadata (SentencePiece vocabulary, llama keys), no tensors
        File f = File::open(models + "/stories260K.gguf");
        Writer w;
        for (const auto& [k, v] : f.metadata())
            if (k != "general.alignment") w.copy_value(k, v);
        w.write(out + "/stories260K_metadata", 32);
    }
    {  // a byte-level BPE vocabulary with merges and a control token
        Writer w;
        w.set_string("general.architecture", "llama");
        w.set_string("tokenizer.ggml.model", "gpt2");
        w.set_string("tokenizer.ggml.pre", "llama-bpe");
        std::vector<std::string> toks;
        for (int c = '!'; c <= '~'; ++c) toks.push_back(std::string(1, char(c)));
        toks.push_back("\xC4\xA0");  // U+0120: GPT-2's space
        toks.push_back("he");
        toks.push_back("<|end|>");
        w.set_string_array("tokenizer.ggml.tokens", toks);
        std::vector<int32_t> types(toks.size(), 1);
        types.back() = 3;
        w.set_i32_array("tokenizer.ggml.token_type", types);
        w.set_string_array("tokenizer.ggml.merges", {"h e"});
        w.set_u32("tokenizer.ggml.eos_token_id", uint32_t(toks.size() - 1));
        w.write(out + "/gpt2_vocab", 32);
    }
    {  // a whole (tiny) llama: 1 layer, Q8_0 weights
        SyntheticLlama c;
        c.n_layer = 1;
        c.n_embd = 32;
        c.n_head = 2;
        c.n_head_kv = 1;
        c.n_ff = 32;
        c.n_vocab = 260;
        c.wtype = TensorType::Q8_0;
        write_synthetic_llama(c, out + "/tiny_llama_q8_0");
    }
    std::printf("wrote the seed corpus to %s\n", out.c_str());
    return 0;
}
