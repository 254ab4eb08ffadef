// SPV_NV_cooperative_matrix -> SPV_KHR_cooperative_matrix: the cooperative-matrix kernels are
// written in GLSL with GL_NV_cooperative_matrix because Debian 12's glslang (11.13, the
// build's compiler) rejects GL_KHR_cooperative_matrix; the devices offer the KHR extension
// (RADV, ANV, NVIDIA, Qualcomm). The two SPIR-V forms differ in a few instructions, which
// this rewrite maps one to one when a pipeline of such a kernel is created (Pipeline):
//
//   OpTypeCooperativeMatrixNV  C Scope Rows Cols  -> OpTypeCooperativeMatrixKHR C Scope Rows Cols Use
//   OpCooperativeMatrixLoadNV  T r P Stride ColMajor [Mem]  -> ...LoadKHR  T r P Layout Stride [Mem]
//   OpCooperativeMatrixStoreNV P O Stride ColMajor [Mem]    -> ...StoreKHR P O Layout Stride [Mem]
//   OpCooperativeMatrixMulAddNV T r A B C        -> ...MulAddKHR T r A B C [signedness operands]
//   OpCooperativeMatrixLengthNV T r Type         -> ...LengthKHR T r Type
//   capability CooperativeMatrixNV, extension SPV_NV_cooperative_matrix -> the KHR ones
//
// The KHR type carries a Use (MatrixA, MatrixB, Accumulator) that the NV type has not: it
// is inferred from the data flow. Every value of a cooperative-matrix type belongs to a
// class of values joined by the instructions that pass a matrix on (OpPhi, OpCopyObject,
// OpSelect, element-wise arithmetic and conversions, OpLoad / OpStore / OpAccessChain
// through variables); an OpCooperativeMatrixMulAddNV fixes the class of its A, B and C
// operands and of its result. An NV type whose values take several uses (f16 A and B
// matrices of one shape share an NV type) becomes one KHR type per use, and each value
// is retyped by its class. What the inference cannot map (a class used as both A and B,
// a type of several uses behind a pointer, an array or a constant) is an error naming
// it, never a silently wrong module. Layout ids: ColumnMajor true -> ColumnMajorKHR (1),
// false -> RowMajorKHR (0). Integer MulAdd: the signedness operands from the component
// types' signedness (OpTypeInt's second operand), as glslang's KHR output sets them.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace vkrt::spv {

// The module declares OpCapability CooperativeMatrixNV (needs coopmat_nv_to_khr).
bool uses_coopmat_nv(std::span<const uint32_t> words);

// The rewritten module; throws vkrt::Error(Status::internal) naming what it cannot map.
std::vector<uint32_t> coopmat_nv_to_khr(std::span<const uint32_t> words);

// SPIR-V numbers of both extensions (the SPIR-V registry; Debian 12's headers predate KHR).
namespace coopmat_op {
inline constexpr uint32_t kTypeNV = 5358, kLoadNV = 5359, kStoreNV = 5360, kMulAddNV = 5361, kLengthNV = 5362;
inline constexpr uint32_t kTypeKHR = 4456, kLoadKHR = 4457, kStoreKHR = 4458, kMulAddKHR = 4459, kLengthKHR = 4460;
inline constexpr uint32_t kCapNV = 5357, kCapKHR = 6022;
inline constexpr uint32_t kUseA = 0, kUseB = 1, kUseAcc = 2;
}  // namespace coopmat_op

}  // namespace vkrt::spv
