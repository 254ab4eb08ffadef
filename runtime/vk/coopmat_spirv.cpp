#include "vk/coopmat_spirv.hpp"

#include <map>
#include <set>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace vkrt::spv {

using namespace coopmat_op;

namespace {

constexpr uint32_t kOpExtension = 10, kOpCapability = 17, kOpTypeInt = 21, kOpTypeArray = 28,
                   kOpTypeRuntimeArray = 29, kOpTypeStruct = 30, kOpTypePointer = 32, kOpConstantTrue = 41,
                   kOpConstantFalse = 42, kOpConstant = 43, kOpFunctionParameter = 55, kOpStore = 62,
                   kOpCopyMemory = 63, kOpSpecConstantOp = 52;
constexpr uint32_t kNoUse = ~0u;

struct Inst {
    size_t at;      // offset of the first word
    uint32_t op, len;
};

[[noreturn]] void fail_map(const std::string& what) {
    fail(Status::internal, "cooperative matrix SPIR-V (NV -> KHR): ", what);
}

// Debug, annotation and mode-setting instructions: their operands name ids without using
// them as values (OpName %type ...), so they never join classes or get retyped.
bool is_meta(uint32_t op) {
    return (op >= 1 && op <= 17) || (op >= 71 && op <= 75) || op == 331 || op == 332 || op == 5632 || op == 5633;
}

std::vector<Inst> parse(std::span<const uint32_t> w) {
    VKRT_CHECK(w.size() >= 5 && w[0] == 0x07230203u, Status::internal, "cooperative matrix SPIR-V: not a module");
    std::vector<Inst> out;
    for (size_t i = 5; i < w.size();) {
        const uint32_t len = w[i] >> 16, op = w[i] & 0xffffu;
        VKRT_CHECK(len > 0 && i + len <= w.size(), Status::internal,
                   "cooperative matrix SPIR-V: malformed instruction at word ", i);
        // the operands this rewrite reads: present (a malformed module is an error, not a read past it)
        uint32_t need = 1;
        if (op == kTypeNV || op == kMulAddNV || op == kLoadNV) need = 6;
        else if (op == kStoreNV) need = 5;
        else if (op == kLengthNV || op == kOpTypeInt || op == kOpTypePointer || op == kOpConstant ||
                 op == kOpTypeArray || op == kOpSpecConstantOp)
            need = 4;
        else if (op == kOpTypeRuntimeArray || op == kOpConstantTrue || op == kOpConstantFalse || op == kOpStore ||
                 op == kOpCopyMemory)
            need = 3;
        else if (op == kOpCapability || op == kOpExtension || op == kOpTypeStruct)
            need = 2;
        VKRT_CHECK(len >= need, Status::internal, "cooperative matrix SPIR-V: instruction ", op, " at word ", i,
                   " has ", len, " words, fewer than its operands");
        out.push_back({i, op, len});
        i += len;
    }
    return out;
}

std::string literal_string(std::span<const uint32_t> words) {
    std::string s;
    for (uint32_t x : words)
        for (int b = 0; b < 4; ++b) {
            const char c = char((x >> (8 * b)) & 0xffu);
            if (c == 0) return s;
            s.push_back(c);
        }
    return s;
}

void push_string(std::vector<uint32_t>& out, std::string_view s) {
    const size_t words = s.size() / 4 + 1;  // with the terminating NUL
    for (size_t i = 0; i < words; ++i) {
        uint32_t x = 0;
        for (size_t b = 0; b < 4; ++b)
            if (4 * i + b < s.size()) x |= uint32_t(uint8_t(s[4 * i + b])) << (8 * b);
        out.push_back(x);
    }
}

struct UnionFind {
    std::map<uint32_t, uint32_t> parent;
    uint32_t find(uint32_t x) {
        auto it = parent.find(x);
        if (it == parent.end()) return parent[x] = x;
        if (it->second == x) return x;
        const uint32_t r = find(it->second);
        parent[x] = r;
        return r;
    }
    void join(uint32_t a, uint32_t b) { parent[find(a)] = find(b); }
};

const char* use_name(uint32_t u) { return u == kUseA ? "A" : u == kUseB ? "B" : "accumulator"; }

}  // namespace

bool uses_coopmat_nv(std::span<const uint32_t> words) {
    if (words.size() < 5 || words[0] != 0x07230203u) return false;
    for (size_t i = 5; i < words.size();) {
        const uint32_t len = words[i] >> 16, op = words[i] & 0xffffu;
        if (len == 0 || i + len > words.size()) return false;
        if (op == kOpCapability && len == 2 && words[i + 1] == kCapNV) return true;
        if (op > kOpCapability && op != 10 && op != 11 && op != 14) return false;  // past the capabilities
        i += len;
    }
    return false;
}

std::vector<uint32_t> coopmat_nv_to_khr(std::span<const uint32_t> w) {
    const std::vector<Inst> insts = parse(w);
    auto word = [&](const Inst& in, uint32_t k) { return w[in.at + k]; };

    // ---- types: the NV matrix types, the types derived from them (pointers, arrays,
    // structs), the component types, the bool constants (layouts)
    std::map<uint32_t, Inst> nv_types;            // id -> declaration
    std::map<uint32_t, uint32_t> derived;         // derived type id -> the NV type it holds
    std::map<uint32_t, Inst> int_types;           // OpTypeInt id -> declaration
    std::map<uint32_t, uint32_t> constant_type;   // OpConstant id -> its type
    std::map<uint32_t, bool> bools;               // OpConstantTrue/False
    for (const Inst& in : insts) {
        if (in.op == kTypeNV) nv_types[word(in, 1)] = in;
        else if (in.op == kOpTypeInt) int_types[word(in, 1)] = in;
        else if (in.op == kOpConstant) constant_type[word(in, 2)] = word(in, 1);
        else if (in.op == kOpConstantTrue || in.op == kOpConstantFalse) bools[word(in, 2)] = in.op == kOpConstantTrue;
        else if (in.op == kOpTypePointer || in.op == kOpTypeArray || in.op == kOpTypeRuntimeArray ||
                 in.op == kOpTypeStruct) {
            const uint32_t first = in.op == kOpTypePointer ? 3 : 2, last = in.op == kOpTypeStruct ? in.len : first + 1;
            for (uint32_t k = first; k < last; ++k) {
                const uint32_t t = word(in, k);
                if (nv_types.count(t)) derived[word(in, 1)] = t;
                else if (derived.count(t)) derived[word(in, 1)] = derived[t];
            }
        }
    }
    VKRT_CHECK(!nv_types.empty(), Status::internal, "cooperative matrix SPIR-V: no OpTypeCooperativeMatrixNV");
    auto nv_of = [&](uint32_t type) -> uint32_t {  // the NV type a (derived) type holds, or 0
        if (nv_types.count(type)) return type;
        auto it = derived.find(type);
        return it == derived.end() ? 0 : it->second;
    };

    // ---- values of matrix types (and pointers to them), joined into classes by the data flow
    UnionFind uf;
    std::map<uint32_t, uint32_t> value_type;  // value id -> its (possibly derived) type
    std::vector<std::pair<uint32_t, uint32_t>> anchor;  // (value id, use fixed by a MulAdd)
    auto value = [&](uint32_t id) { return value_type.count(id) != 0; };
    for (const Inst& in : insts) {
        if (is_meta(in.op) || in.len < 3 || in.op == kTypeNV) continue;
        if (in.op == kOpStore || in.op == kOpCopyMemory) {
            if (value(word(in, 1)) && value(word(in, 2))) uf.join(word(in, 1), word(in, 2));
            continue;
        }
        if (in.op == kStoreNV) continue;
        const uint32_t type = word(in, 1);
        if (nv_of(type) == 0 || (in.op >= 19 && in.op <= 39)) continue;  // not a matrix value; a type
        const uint32_t r = word(in, 2);
        VKRT_CHECK(in.op != kOpFunctionParameter, Status::internal,
                   "cooperative matrix SPIR-V (NV -> KHR): a function parameter of matrix type (compile with -O, "
                   "which inlines every function)");
        value_type[r] = type;
        uf.find(r);
        if (in.op == kMulAddNV) {
            anchor.insert(anchor.end(),
                          {{word(in, 3), kUseA}, {word(in, 4), kUseB}, {word(in, 5), kUseAcc}, {r, kUseAcc}});
            continue;
        }
        if (in.op == kLoadNV) continue;  // a source: its use comes from where it goes
        for (uint32_t k = 3; k < in.len; ++k)
            if (value(word(in, k))) uf.join(r, word(in, k));
    }
    // each class's use: the anchors agree, or the module cannot be mapped
    std::map<uint32_t, uint32_t> class_use;
    for (auto [id, u] : anchor) {
        VKRT_CHECK(value(id), Status::internal, "cooperative matrix SPIR-V (NV -> KHR): MulAdd operand %", id,
                   " is not a value of a matrix type");
        const uint32_t c = uf.find(id);
        auto [it, fresh] = class_use.emplace(c, u);
        if (!fresh && it->second != u)
            fail_map("value %" + std::to_string(id) + " flows into both the " + use_name(it->second) + " and the " +
                     use_name(u) + " operand of a MulAdd (one matrix, two uses)");
    }
    auto use_of = [&](uint32_t id) {
        auto it = class_use.find(uf.find(id));
        return it == class_use.end() ? kUseAcc : it->second;  // loaded and stored only: any use will do
    };
    // the uses each NV type takes
    std::map<uint32_t, std::set<uint32_t>> type_uses;
    for (auto [id, t] : value_type) type_uses[nv_of(t)].insert(use_of(id));
    for (auto& [t, _] : nv_types) type_uses[t];  // declared, no values: Accumulator below
    // pointers straight to a type of several uses get one pointer type per use (glslang
    // keeps matrices in Function variables); arrays and structs of one are not mapped
    std::map<uint32_t, uint32_t> pointee;  // pointer type id -> the NV type it points to
    for (const Inst& in : insts)
        if (in.op == kOpTypePointer && nv_types.count(word(in, 3))) pointee[word(in, 1)] = word(in, 3);
    for (auto [d, t] : derived)
        if (type_uses[t].size() > 1 && !pointee.count(d))
            fail_map("matrix type %" + std::to_string(t) + " is used as several of A, B and accumulator and also "
                     "inside an array or struct (%" + std::to_string(d) +
                     "): keep such matrices out of arrays (unrolled loops, one variable each)");

    // ---- new ids: the Use/Layout constants, a type per extra use
    uint32_t bound = w[3];
    uint32_t c_id[3] = {bound, bound + 1, bound + 2};  // 0, 1, 2: MatrixA/RowMajor, MatrixB/ColumnMajor, Accumulator
    bound += 3;
    std::map<std::pair<uint32_t, uint32_t>, uint32_t> khr_type;  // (NV type, use) -> KHR type id
    for (auto& [t, uses] : type_uses) {
        if (uses.empty()) uses.insert(kUseAcc);
        bool first = true;
        for (uint32_t u : uses) {
            khr_type[{t, u}] = first ? t : bound++;
            first = false;
        }
    }
    std::map<std::pair<uint32_t, uint32_t>, uint32_t> ptr_type;  // (pointer type, use) -> pointer type id
    for (auto [p, t] : pointee) {
        bool first = true;
        for (uint32_t u : type_uses.at(t)) {
            ptr_type[{p, u}] = first ? p : bound++;
            first = false;
        }
    }
    // The type of value `id`, declared with `type`: its use's KHR type (or pointer to one).
    auto retype = [&](uint32_t type, uint32_t id) {
        if (nv_types.count(type)) return khr_type.at({type, use_of(id)});
        if (pointee.count(type)) return ptr_type.at({type, use_of(id)});
        return type;  // arrays and structs keep their id (one use, checked above)
    };
    auto layout = [&](uint32_t col_major_id) {
        auto it = bools.find(col_major_id);
        if (it == bools.end())
            fail_map("the ColumnMajor operand %" + std::to_string(col_major_id) + " is not OpConstantTrue/False");
        return c_id[it->second ? 1 : 0];
    };
    auto is_signed_int = [&](uint32_t nv_type) {
        auto it = int_types.find(word(nv_types.at(nv_type), 2));
        return it != int_types.end() && word(it->second, 3) == 1;
    };
    auto nv_type_of_value = [&](uint32_t id) {
        auto it = value_type.find(id);
        if (it == value_type.end()) fail_map("%" + std::to_string(id) + " is not a matrix value");
        return nv_of(it->second);
    };

    // ---- emit
    std::vector<uint32_t> out(w.begin(), w.begin() + 5);
    auto emit = [&](uint32_t op, std::initializer_list<uint32_t> ops, std::span<const uint32_t> tail = {}) {
        out.push_back(uint32_t((1 + ops.size() + tail.size()) << 16) | op);
        out.insert(out.end(), ops.begin(), ops.end());
        out.insert(out.end(), tail.begin(), tail.end());
    };
    bool constants_done = false;
    for (const Inst& in : insts) {
        std::span<const uint32_t> iw = w.subspan(in.at, in.len);
        if (in.op == kOpCapability && word(in, 1) == kCapNV) {
            emit(kOpCapability, {kCapKHR});
        } else if (in.op == kOpExtension && literal_string(iw.subspan(1)) == "SPV_NV_cooperative_matrix") {
            const size_t at = out.size();
            out.push_back(0);
            push_string(out, "SPV_KHR_cooperative_matrix");
            out[at] = uint32_t((out.size() - at) << 16) | kOpExtension;
        } else if (in.op == kTypeNV) {
            if (!constants_done) {
                // of the scope operand's integer type, declared before this type
                auto ct = constant_type.find(word(in, 3));
                if (ct == constant_type.end() || !int_types.count(ct->second))
                    fail_map("the scope of matrix type %" + std::to_string(word(in, 1)) + " is not an OpConstant");
                for (uint32_t v = 0; v < 3; ++v) emit(kOpConstant, {ct->second, c_id[v], v});
                constants_done = true;
            }
            const uint32_t t = word(in, 1);
            for (uint32_t u : type_uses.at(t))
                emit(kTypeKHR, {khr_type.at({t, u}), word(in, 2), word(in, 3), word(in, 4), word(in, 5), c_id[u]});
        } else if (in.op == kOpTypePointer && pointee.count(word(in, 1))) {
            const uint32_t p = word(in, 1), t = pointee.at(p);
            for (uint32_t u : type_uses.at(t))
                emit(kOpTypePointer, {ptr_type.at({p, u}), word(in, 2), khr_type.at({t, u})});
        } else if (in.op == kLoadNV) {
            VKRT_CHECK(in.len >= 6, Status::internal, "cooperative matrix SPIR-V: short OpCooperativeMatrixLoadNV");
            emit(kLoadKHR,
                 {retype(word(in, 1), word(in, 2)), word(in, 2), word(in, 3), layout(word(in, 5)), word(in, 4)},
                 iw.subspan(6));
        } else if (in.op == kStoreNV) {
            VKRT_CHECK(in.len >= 5, Status::internal, "cooperative matrix SPIR-V: short OpCooperativeMatrixStoreNV");
            emit(kStoreKHR, {word(in, 1), word(in, 2), layout(word(in, 4)), word(in, 3)}, iw.subspan(5));
        } else if (in.op == kMulAddNV) {
            // signedness operands (KHR: integer components are signless unless these say so)
            uint32_t mask = 0;
            if (is_signed_int(nv_type_of_value(word(in, 3)))) mask |= 0x1;  // MatrixASignedComponentsKHR
            if (is_signed_int(nv_type_of_value(word(in, 4)))) mask |= 0x2;  // MatrixBSignedComponentsKHR
            if (is_signed_int(nv_type_of_value(word(in, 5)))) mask |= 0x4;  // MatrixCSignedComponentsKHR
            if (is_signed_int(nv_of(word(in, 1)))) mask |= 0x8;             // MatrixResultSignedComponentsKHR
            const uint32_t tail[1] = {mask};
            emit(kMulAddKHR, {retype(word(in, 1), word(in, 2)), word(in, 2), word(in, 3), word(in, 4), word(in, 5)},
                 mask ? std::span<const uint32_t>(tail) : std::span<const uint32_t>());
        } else if (in.op == kOpSpecConstantOp && word(in, 3) == kLengthNV) {
            out.insert(out.end(), iw.begin(), iw.end());
            out[out.size() - in.len + 3] = kLengthKHR;
        } else if (in.op == kLengthNV) {
            if (type_uses.count(word(in, 3)) && type_uses.at(word(in, 3)).size() > 1)
                fail_map("OpCooperativeMatrixLengthNV of type %" + std::to_string(word(in, 3)) + ", used as several of "
                         "A, B and accumulator");
            emit(kLengthKHR, {word(in, 1), word(in, 2), word(in, 3)});
        } else if (!is_meta(in.op) && in.len >= 3 && value_type.count(word(in, 2)) && value_type.at(word(in, 2)) ==
                                                                                          word(in, 1)) {
            out.insert(out.end(), iw.begin(), iw.end());
            out[out.size() - in.len + 1] = retype(word(in, 1), word(in, 2));
        } else {
            out.insert(out.end(), iw.begin(), iw.end());
        }
    }
    out[3] = bound;
    return out;
}

}  // namespace vkrt::spv
