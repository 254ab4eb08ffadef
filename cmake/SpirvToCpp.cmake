# cmake -DSPV=in.spv -DCPP=out.cpp -DNAME=ident -P SpirvToCpp.cmake
file(READ ${SPV} hex HEX)
string(LENGTH "${hex}" n)
math(EXPR rem "${n} % 8")
if(NOT rem EQUAL 0)
  message(FATAL_ERROR "${SPV}: size is not a multiple of 4 bytes")
endif()
# SPIR-V words are little-endian on disk: bytes b0 b1 b2 b3 -> 0xb3b2b1b0
string(REGEX REPLACE "(..)(..)(..)(..)" "0x\\4\\3\\2\\1u," words "${hex}")
string(REGEX REPLACE "(0x[0-9a-f]+u,0x[0-9a-f]+u,0x[0-9a-f]+u,0x[0-9a-f]+u,0x[0-9a-f]+u,0x[0-9a-f]+u,0x[0-9a-f]+u,0x[0-9a-f]+u,)" "\\1\n" words "${words}")
math(EXPR nwords "${n} / 8")
file(WRITE ${CPP} "// generated from ${NAME}.spv\n#include <cstddef>\n#include <cstdint>\nnamespace vkrt::spv {\nextern const uint32_t ${NAME}_words[];\nextern const size_t ${NAME}_size;\nconst uint32_t ${NAME}_words[] = {\n${words}\n};\nconst size_t ${NAME}_size = ${nwords};\n}\n")
