# test_llama_cpp_greedy (tests/test_llama_cpp_greedy.cpp) a second time on the fallback
# paths: integer dot, float16 and subgroup operations forced off. The F32 cache case (every
# id must be llama.cpp's); the F16 cache on these paths is test_model_kv_cache_fallback_paths'
# (tests/paths.cmake: batch against step, F16 and Q8_0 caches).
if(TARGET test_llama_cpp_greedy)
  add_test(NAME test_llama_cpp_greedy_fallback_paths COMMAND test_llama_cpp_greedy -tc=*F32\ KV*)
  set_tests_properties(test_llama_cpp_greedy_fallback_paths PROPERTIES
    ENVIRONMENT "VKRT_VALIDATION=1;VKRT_DISABLE=dot,fp16,subgroup" TIMEOUT ${VKRT_TEST_TIMEOUT})
endif()
