# formats_perplexity (tests/formats_perplexity.cpp): 16 models x 20 chunks of 512 tokens (the figures of
# ../shared/models/arch/README.md need exactly that), about 14 minutes of CPU on lavapipe.
# It runs as four CTest tests of three to five files (VKRT_PPL_FILES), so that -j2 keeps both
# cores busy; the plain executable checks all 16.
add_executable(formats_perplexity ${CMAKE_CURRENT_SOURCE_DIR}/formats_perplexity.cpp)
target_link_libraries(formats_perplexity PRIVATE vkrt_test_support)
# The float files are the longest runs (about twice a quantized file's CPU): three in the
# first group, Q8_0 with the 4-bit files (formats_perplexity_1 took 238 s at -j2 with four).
set(_groups
  "padded256-f32.gguf,padded256-f16.gguf,padded256-bf16.gguf"
  "padded256-q6_k.gguf,padded256-q5_k_m.gguf,padded256-q5_1.gguf,padded256-q5_0.gguf"
  "padded256-q4_k_m.gguf,padded256-q4_1.gguf,padded256-q4_0.gguf,padded256-iq4_nl.gguf,padded256-q8_0.gguf"
  "padded256-iq4_xs.gguf,padded256-q3_k_m.gguf,padded256-q2_k.gguf,stories260K-q4_k_m.gguf")
set(_i 0)
foreach(g ${_groups})
  math(EXPR _i "${_i} + 1")
  add_test(NAME formats_perplexity_${_i} COMMAND formats_perplexity)
  set_tests_properties(formats_perplexity_${_i} PROPERTIES
    ENVIRONMENT "VKRT_VALIDATION=1;VKRT_PPL_FILES=${g}" TIMEOUT 1800 LABELS quality)
endforeach()
foreach(f llama_ropefreqs-f32 qwen2-f32 qwen3-f32 gemma3-f32 phi3-f32)
  if(TEST arch_perplexity_${f})
    set_tests_properties(arch_perplexity_${f} PROPERTIES LABELS quality)
  endif()
endforeach()
