// The SPV_NV_cooperative_matrix -> SPV_KHR_cooperative_matrix rewrite (vk/coopmat_spirv.hpp)
// on every embedded cooperative-matrix kernel: no Vulkan needed (lavapipe has no cooperative
// matrices; the rewritten modules run on devices that do).
//
// Structural checks of each rewritten module, what a KHR validator checks of these
// instructions: no NV instruction or capability left, the KHR ones declared; every result
// id defined once and below the bound; the matrix types unique and with a Use that is an
// OpConstant 0..2; MulAdd's A, B and C operands and its result of the MatrixA, MatrixB and
// Accumulator uses, of one shape (A MxK, B KxN, C MxN); loads and stores of matrices
// through pointers to the very type loaded or stored; layouts OpConstant 0 or 1.
// Beside these, during development the rewritten modules were checked by Debian 13's
// spirv-val (SPIRV-Tools 2025.1, target vulkan1.1) and compiled by Mesa 25.0.7's RADV
// (navi31, scripts/gpu-compilers.sh): docs/ARCHITECTURE.md, "Cooperative matrices".
#include <doctest/doctest.h>

#include <map>
#include <set>
#include <tuple>
#include <vector>

#include "core/error.hpp"
#include "vk/coopmat_spirv.hpp"
#include "vk/shaders.hpp"

using namespace vkrt;
namespace op = vkrt::spv::coopmat_op;

namespace {

struct Module {
    std::map<uint32_t, std::vector<uint32_t>> def;  // result id -> its instruction (words)
    std::map<uint32_t, uint32_t> type_of;           // value id -> type id
    std::vector<std::vector<uint32_t>> insts;
    std::vector<std::string> errors;
};

// Instructions whose word 1 is a result id (types) or word 2 a result id after a type.
bool defines_type(uint32_t o) { return (o >= 19 && o <= 39) || o == op::kTypeKHR || o == op::kTypeNV; }

Module parse(const std::vector<uint32_t>& w) {
    Module m;
    for (size_t i = 5; i < w.size();) {
        const uint32_t len = w[i] >> 16;
        REQUIRE(len > 0);
        REQUIRE(i + len <= w.size());
        m.insts.emplace_back(w.begin() + i, w.begin() + i + len);
        i += len;
    }
    for (const auto& in : m.insts) {
        const uint32_t o = in[0] & 0xffffu;
        uint32_t r = 0;
        if (defines_type(o)) r = in[1];
        else if ((o == 43 || o == 41 || o == 42 || o == 59 || o == 61 || o == 65 || o == op::kLoadKHR ||
                  o == op::kMulAddKHR || o == 245 || o == 44 || o == 46) && in.size() >= 3) {
            r = in[2];
            m.type_of[r] = in[1];
        }
        if (r == 0) continue;
        if (m.def.count(r)) m.errors.push_back("id %" + std::to_string(r) + " defined twice");
        m.def[r] = in;
    }
    return m;
}

uint32_t opc(const std::vector<uint32_t>& in) { return in[0] & 0xffffu; }

// Checks a rewritten module; returns the number of MulAdds.
int check_khr(const std::vector<uint32_t>& w, const char* name) {
    INFO(name);
    REQUIRE(w.size() > 5);
    CHECK(w[0] == 0x07230203u);
    Module m = parse(w);
    for (const auto& e : m.errors) FAIL_CHECK(e);
    for (auto& [id, _] : m.def) CHECK(id < w[3]);
    bool cap = false, ext = false;
    std::set<std::tuple<uint32_t, uint32_t, uint32_t, uint32_t, uint32_t>> types;
    auto constant = [&](uint32_t id) -> int64_t {
        auto it = m.def.find(id);
        return it != m.def.end() && opc(it->second) == 43 ? int64_t(it->second[3]) : -1;
    };
    auto use = [&](uint32_t type) -> int64_t {
        auto it = m.def.find(type);
        return it != m.def.end() && opc(it->second) == op::kTypeKHR ? constant(it->second[6]) : -1;
    };
    auto pointee = [&](uint32_t ptr_type) -> uint32_t {
        auto it = m.def.find(ptr_type);
        return it != m.def.end() && opc(it->second) == 32 ? it->second[3] : 0;
    };
    int muladds = 0;
    for (const auto& in : m.insts) {
        const uint32_t o = opc(in);
        CHECK_MESSAGE((o < op::kCapNV || o > op::kLengthNV), "NV instruction ", o, " left");
        if (o == 17) {
            CHECK(in[1] != op::kCapNV);
            cap |= in[1] == op::kCapKHR;
        }
        if (o == 10) {
            const std::string s(reinterpret_cast<const char*>(&in[1]));
            CHECK(s != "SPV_NV_cooperative_matrix");
            ext |= s == "SPV_KHR_cooperative_matrix";
        }
        if (o == op::kTypeKHR) {
            REQUIRE(in.size() == 7);
            const int64_t u = constant(in[6]);
            CHECK_MESSAGE((u >= 0 && u <= 2), "type %", in[1], ": Use is not an OpConstant 0..2");
            CHECK_MESSAGE(types.insert({in[2], in[3], in[4], in[5], uint32_t(u)}).second, "type %", in[1],
                          " declared twice");
        }
        if (o == op::kMulAddKHR) {
            ++muladds;
            REQUIRE(in.size() >= 6);
            const uint32_t ta = m.type_of[in[3]], tb = m.type_of[in[4]], tc = m.type_of[in[5]];
            CHECK(use(ta) == op::kUseA);
            CHECK(use(tb) == op::kUseB);
            CHECK(use(tc) == op::kUseAcc);
            CHECK(use(in[1]) == op::kUseAcc);
            CHECK(tc == in[1]);
            // A rows x B cols = C rows x cols; A cols = B rows (K)
            const auto &A = m.def[ta], &B = m.def[tb], &C = m.def[tc];
            CHECK(constant(A[4]) == constant(C[4]));
            CHECK(constant(B[5]) == constant(C[5]));
            CHECK(constant(A[5]) == constant(B[4]));
        }
        if (o == op::kLoadKHR) {
            REQUIRE(in.size() >= 6);
            CHECK(use(in[1]) >= 0);
            const int64_t layout = constant(in[4]);
            CHECK((layout == 0 || layout == 1));
        }
        if (o == op::kStoreKHR) {
            REQUIRE(in.size() >= 5);
            const int64_t layout = constant(in[3]);
            CHECK((layout == 0 || layout == 1));
        }
        // OpLoad / OpStore of a matrix: the pointer's pointee is the value's type
        if (o == 61 && use(in[1]) >= 0) CHECK_MESSAGE(pointee(m.type_of[in[3]]) == in[1], "OpLoad %", in[2]);
        if (o == 62 && m.type_of.count(in[2]) && use(m.type_of[in[2]]) >= 0)
            CHECK_MESSAGE(pointee(m.type_of[in[1]]) == m.type_of[in[2]], "OpStore to %", in[1]);
        // Function variables of matrix type: typed by their pointer
        if (o == 59) CHECK(m.def.count(in[1]));
    }
    CHECK(cap);
    CHECK(ext);
    return muladds;
}

int count_op(std::span<const uint32_t> w, uint32_t want) {
    int n = 0;
    for (size_t i = 5; i < w.size(); i += w[i] >> 16)
        if ((w[i] & 0xffffu) == want) ++n;
    return n;
}

}  // namespace

TEST_CASE("coopmat SPIR-V: every embedded NV matrix kernel rewrites to a consistent KHR module") {
    int kernels = 0;
    for (const spv::ShaderBlob& b : spv::all_shaders()) {
        const std::span<const uint32_t> words(b.words, b.size);
        if (!spv::uses_coopmat_nv(words)) {
            CHECK_MESSAGE(count_op(words, op::kTypeNV) == 0, b.name, ": NV matrix types without the capability");
            continue;
        }
        ++kernels;
        const std::vector<uint32_t> khr = spv::coopmat_nv_to_khr(words);
        const int muladds = check_khr(khr, b.name);
        CHECK_MESSAGE(muladds == count_op(words, op::kMulAddNV), b.name);
        CHECK(muladds > 0);
        CHECK(count_op(khr, op::kLoadKHR) == count_op(words, op::kLoadNV));
        CHECK(count_op(khr, op::kStoreKHR) == count_op(words, op::kStoreNV));
        CHECK(!spv::uses_coopmat_nv(khr));
    }
    // gemm_<fmt>_cm for every K_FLOAT format, gemm_int8_cm
    CHECK(kernels >= 10);
}

namespace {
// The words of an embedded matrix kernel, and the offset of its first instruction `want`.
std::vector<uint32_t> matrix_kernel() {
    for (const spv::ShaderBlob& b : spv::all_shaders())
        if (spv::uses_coopmat_nv({b.words, b.size})) return {b.words, b.words + b.size};
    return {};
}
size_t first_op(const std::vector<uint32_t>& w, uint32_t want) {
    for (size_t i = 5; i < w.size(); i += w[i] >> 16)
        if ((w[i] & 0xffffu) == want) return i;
    return 0;
}
}  // namespace

TEST_CASE("coopmat SPIR-V: a matrix that would be both A and B is refused, not mapped") {
    std::vector<uint32_t> w = matrix_kernel();
    REQUIRE(!w.empty());
    // the first MulAdd's B operand := its A operand
    const size_t i = first_op(w, op::kMulAddNV);
    REQUIRE(i != 0);
    w[i + 4] = w[i + 3];
    CHECK_THROWS_WITH_AS(spv::coopmat_nv_to_khr(w), doctest::Contains("both the A and the B operand"), Error);
    // and a module that is not SPIR-V
    std::vector<uint32_t> junk{1, 2, 3};
    CHECK(!spv::uses_coopmat_nv(junk));
    CHECK_THROWS_AS(spv::coopmat_nv_to_khr(junk), Error);
}

TEST_CASE("coopmat SPIR-V: a truncated matrix instruction is an error, not a read past it") {
    std::vector<uint32_t> w = matrix_kernel();
    REQUIRE(!w.empty());
    // the first OpTypeCooperativeMatrixNV cut to 3 words (the rest as OpNop words)
    const size_t i = first_op(w, op::kTypeNV);
    REQUIRE(i != 0);
    const uint32_t len = w[i] >> 16;
    w[i] = (3u << 16) | op::kTypeNV;
    for (uint32_t k = 3; k < len; ++k) w[i + k] = (1u << 16) | 0u;  // OpNop
    CHECK_THROWS_WITH_AS(spv::coopmat_nv_to_khr(w), doctest::Contains("fewer than its operands"), Error);
}
