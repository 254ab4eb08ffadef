# The architecture conformance tests on the fallback paths (integer dot, float16 and
# subgroup operations forced off), and the perplexity of every architecture's file in
# ../shared/models/arch against llama.cpp's (tests/arch_perplexity.cpp: one CTest test
# per file, so that they run in parallel).
if(TARGET test_arch)
  add_test(NAME test_arch_fallback_paths COMMAND test_arch -tc=*synthetic*)
  set_tests_properties(test_arch_fallback_paths PROPERTIES
    ENVIRONMENT "VKRT_VALIDATION=1;VKRT_DISABLE=dot,fp16,subgroup" TIMEOUT 900)
endif()
add_executable(arch_perplexity ${CMAKE_CURRENT_SOURCE_DIR}/arch_perplexity.cpp)
target_link_libraries(arch_perplexity PRIVATE vkrt_test_support)
foreach(f llama_ropefreqs-f32 qwen2-f32 qwen3-f32 gemma3-f32 phi3-f32 padded256-f32 padded256-f16)
  add_test(NAME arch_perplexity_${f} COMMAND arch_perplexity -tc=${f})
  set_tests_properties(arch_perplexity_${f} PROPERTIES ENVIRONMENT "VKRT_VALIDATION=1" TIMEOUT 900)
endforeach()
