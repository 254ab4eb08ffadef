# test_llama_cpp_greedy (tests/test_llama_cpp_greedy.cpp) a second time on the fallback
# paths: integer dot, float16 and subgroup operations forced off.
if(TARGET test_llama_cpp_greedy)
  add_test(NAME test_llama_cpp_greedy_fallback_paths COMMAND test_llama_cpp_greedy)
  set_tests_properties(test_llama_cpp_greedy_fallback_paths PROPERTIES
    ENVIRONMENT "VKRT_VALIDATION=1;VKRT_DISABLE=dot,fp16,subgroup" TIMEOUT ${VKRT_TEST_TIMEOUT})
endif()
