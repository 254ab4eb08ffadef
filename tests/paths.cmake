# The whole model on the fallback paths: the same greedy ids and CPU-reference
# agreement with integer dot, float16 and subgroup operations all forced off.
if(TARGET test_model)
  add_test(NAME test_model_fallback_paths COMMAND test_model -tc=*greedy*,*synthetic*,*prefill*)
  set_tests_properties(test_model_fallback_paths PROPERTIES
    ENVIRONMENT "VKRT_VALIDATION=1;VKRT_DISABLE=dot,fp16,subgroup" TIMEOUT 900)
endif()
