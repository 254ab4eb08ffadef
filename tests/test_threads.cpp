// Threads through the C API: sessions on one shared model run concurrently on
// two threads, and two contexts run on two threads, with zero validation-layer
// messages (its thread-safety checks report unsynchronized command pools and
// queues) and exactly the tokens and logits of the single-threaded run.
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "test_util.hpp"
#include "vkrt/vkrt.h"

namespace {

std::string model_path() { return vkrt::test::models_dir() + "/stories260K.gguf"; }

struct Run {
    std::vector<int32_t> tokens;
    std::vector<float> logits;  // after the last evaluated token
    std::string error;
};

int collect(int32_t token, const char*, void* user) {
    static_cast<std::vector<int32_t>*>(user)->push_back(token);
    return 0;
}

// Greedy continuation of `prompt` in a new session, `rounds` times (the results of
// every round must agree: the session is reset in between).
Run generate(vkrt_model* model, const std::string& prompt, int rounds) {
    Run r;
    vkrt_session_params sp = vkrt_session_default_params();
    sp.n_ctx = 96;
    vkrt_session* s = nullptr;
    if (vkrt_session_create(model, &sp, &s) != VKRT_OK) {
        r.error = vkrt_last_error();
        return r;
    }
    vkrt_sampler_params greedy = vkrt_sampler_default_params();
    greedy.temperature = 0;
    for (int i = 0; i < rounds && r.error.empty(); ++i) {
        std::vector<int32_t> toks;
        const float* logits = nullptr;
        int32_t nv = 0;
        if (vkrt_session_reset(s) != VKRT_OK || vkrt_generate(s, prompt.c_str(), &greedy, 24, collect, &toks) != VKRT_OK ||
            vkrt_get_logits(s, &logits, &nv) != VKRT_OK) {
            r.error = vkrt_last_error();
            break;
        }
        if (i == 0) {
            r.tokens = toks;
            r.logits.assign(logits, logits + nv);
        } else if (toks != r.tokens || std::memcmp(logits, r.logits.data(), r.logits.size() * 4) != 0) {
            r.error = "round " + std::to_string(i) + " differs from round 0";
        }
    }
    vkrt_session_free(s);
    return r;
}

void check_same(const Run& got, const Run& want, const char* what) {
    INFO(what);
    REQUIRE_MESSAGE(got.error.empty(), got.error);
    CHECK(got.tokens.size() >= 8);
    CHECK(got.tokens == want.tokens);
    CHECK(got.logits == want.logits);  // bit-exact: the same kernels on the same data
}

const char* kPrompts[2] = {"Once upon a time", "The little dog"};

}  // namespace

TEST_CASE("two threads, one session each, on one shared model") {
    vkrt_context* ctx = nullptr;
    REQUIRE(vkrt_context_create(nullptr, &ctx) == VKRT_OK);
    vkrt_model* model = nullptr;
    REQUIRE_MESSAGE(vkrt_model_load(ctx, model_path().c_str(), nullptr, &model) == VKRT_OK, vkrt_last_error());
    Run ref[2] = {generate(model, kPrompts[0], 1), generate(model, kPrompts[1], 1)};
    REQUIRE(ref[0].error.empty());
    REQUIRE(ref[0].tokens != ref[1].tokens);

    Run got[2];
    std::thread t0([&] { got[0] = generate(model, kPrompts[0], 4); });
    std::thread t1([&] { got[1] = generate(model, kPrompts[1], 4); });
    t0.join();
    t1.join();
    check_same(got[0], ref[0], "thread 0");
    check_same(got[1], ref[1], "thread 1");

    // A third thread loads a second model on the same context while two sessions run.
    vkrt_model* model2 = nullptr;
    std::string load_error;
    std::thread loader([&] {
        if (vkrt_model_load(ctx, model_path().c_str(), nullptr, &model2) != VKRT_OK) load_error = vkrt_last_error();
    });
    std::thread t2([&] { got[0] = generate(model, kPrompts[0], 2); });
    std::thread t3([&] { got[1] = generate(model, kPrompts[1], 2); });
    loader.join();
    t2.join();
    t3.join();
    REQUIRE_MESSAGE(load_error.empty(), load_error);
    check_same(got[0], ref[0], "thread 0 beside a loader");
    check_same(got[1], ref[1], "thread 1 beside a loader");
    check_same(generate(model2, kPrompts[0], 1), ref[0], "the model loaded concurrently");

    CHECK(vkrt_context_validation_messages(ctx) == 0);
    vkrt_model_free(model2);
    vkrt_model_free(model);
    vkrt_context_free(ctx);
}

TEST_CASE("two contexts on two threads") {
    Run ref;
    {
        vkrt_context* ctx = nullptr;
        REQUIRE(vkrt_context_create(nullptr, &ctx) == VKRT_OK);
        vkrt_model* model = nullptr;
        REQUIRE(vkrt_model_load(ctx, model_path().c_str(), nullptr, &model) == VKRT_OK);
        ref = generate(model, kPrompts[0], 1);
        vkrt_model_free(model);
        vkrt_context_free(ctx);
    }
    Run got[2];
    uint64_t messages[2] = {0, 0};
    auto body = [&](int i) {
        vkrt_context* ctx = nullptr;
        vkrt_model* model = nullptr;
        if (vkrt_context_create(nullptr, &ctx) != VKRT_OK ||
            vkrt_model_load(ctx, model_path().c_str(), nullptr, &model) != VKRT_OK) {
            got[i].error = vkrt_last_error();
        } else {
            got[i] = generate(model, kPrompts[0], 3);
            messages[i] = vkrt_context_validation_messages(ctx);
        }
        vkrt_model_free(model);
        vkrt_context_free(ctx);  // from the thread that made it, while the other thread still runs
    };
    std::thread a(body, 0), b(body, 1);
    a.join();
    b.join();
    check_same(got[0], ref, "context 0");
    check_same(got[1], ref, "context 1");
    CHECK(messages[0] == 0);
    CHECK(messages[1] == 0);
}

TEST_CASE("a session used by a second thread at the same time is refused, not raced") {
    vkrt_context* ctx = nullptr;
    REQUIRE(vkrt_context_create(nullptr, &ctx) == VKRT_OK);
    vkrt_model* model = nullptr;
    REQUIRE(vkrt_model_load(ctx, model_path().c_str(), nullptr, &model) == VKRT_OK);
    vkrt_session* s = nullptr;
    REQUIRE(vkrt_session_create(model, nullptr, &s) == VKRT_OK);
    // The token callback runs inside vkrt_generate on thread 1: while it blocks there,
    // thread 2 tries the same session.
    struct Shared {
        vkrt_session* s;
        vkrt_status other = VKRT_OK;
        std::string message;
        int32_t pos_inside = -1;
    } sh{s};
    auto cb = [](int32_t, const char*, void* user) -> int {
        auto* p = static_cast<Shared*>(user);
        p->pos_inside = vkrt_session_pos(p->s);  // the same thread may query its session
        std::thread other([p] {
            int32_t t = 1;
            p->other = vkrt_eval(p->s, &t, 1);
            p->message = vkrt_last_error();
        });
        other.join();
        return 1;  // stop after the first token
    };
    REQUIRE(vkrt_generate(s, "Once upon a time", nullptr, 4, cb, &sh) == VKRT_OK);
    CHECK(sh.pos_inside > 0);
    CHECK(sh.other == VKRT_ERROR_INVALID_ARGUMENT);
    CHECK(sh.message.find("in use by another thread") != std::string::npos);
    int32_t t = 1;
    CHECK(vkrt_eval(s, &t, 1) == VKRT_OK);  // free again afterwards
    CHECK(vkrt_context_validation_messages(ctx) == 0);
    vkrt_session_free(s);
    vkrt_model_free(model);
    vkrt_context_free(ctx);
}
