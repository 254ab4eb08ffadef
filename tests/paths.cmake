# The whole model on the fallback paths: the same greedy ids and CPU-reference
# agreement with integer dot, float16 and subgroup operations all forced off.
if(TARGET test_model)
  add_test(NAME test_model_fallback_paths COMMAND test_model -tc=*greedy*,*synthetic*,*prefill*)
  set_tests_properties(test_model_fallback_paths PROPERTIES
    ENVIRONMENT "VKRT_VALIDATION=1;VKRT_DISABLE=dot,fp16,subgroup" TIMEOUT 900)
endif()
# The same for the KV cache types: batch against step with F16 and Q8_0 caches (the
# synthetic-model test already runs on both paths itself).
if(TARGET test_model_kv_cache)
  add_test(NAME test_model_kv_cache_fallback_paths COMMAND test_model_kv_cache -tc=*token-by-token*)
  set_tests_properties(test_model_kv_cache_fallback_paths PROPERTIES
    ENVIRONMENT "VKRT_VALIDATION=1;VKRT_DISABLE=dot,fp16,subgroup" TIMEOUT 900)
endif()
# The shapes and paths a GPU gets, on lavapipe: CPU devices pick narrow GEMV/RMSNorm
# workgroups and the GEMV for prefill (Capabilities::cpu_tuning); VKRT_DISABLE=cpu_tuning
# makes the ops choose as on a GPU, so those choices are checked here too. Of
# test_kernels_matmul, the every-format case (its GEMV shapes and the auto path's choice
# follow cpu_tuning); its int8-dot GEMM and cooperative-matrix GEMM cases take their tiles
# and paths from the call and the device's limits only, so without cpu_tuning they would
# build the same pipelines and compute the same outputs again.
if(TARGET test_kernels_matmul AND TARGET test_kernels_block AND TARGET test_model)
  add_test(NAME test_kernels_matmul_gpu_tuning COMMAND test_kernels_matmul -tc=*every?format?x?path?x?capability*)
  add_test(NAME test_kernels_block_gpu_tuning COMMAND test_kernels_block -tc=rmsnorm*)
  add_test(NAME test_model_gpu_tuning COMMAND test_model -tc=*greedy*,*synthetic*,*prefill*)
  set_tests_properties(test_kernels_matmul_gpu_tuning test_kernels_block_gpu_tuning test_model_gpu_tuning
    PROPERTIES ENVIRONMENT "VKRT_VALIDATION=1;VKRT_DISABLE=cpu_tuning" TIMEOUT 900)
endif()

# The int8-dot GEMM (shaders/mmq.comp) in whole models: lavapipe reports OpSDot as not
# accelerated, so prefill takes it only with VKRT_MMQ=force. test_arch_quant runs Q8_0 and
# Q4_0 files of every architecture through 512-token prefills against their F32 file
# (about 37 CPU s).
if(TARGET test_arch_quant)
  add_test(NAME test_arch_quant_mmq_forced COMMAND test_arch_quant)
  set_tests_properties(test_arch_quant_mmq_forced PROPERTIES ENVIRONMENT "VKRT_VALIDATION=1;VKRT_MMQ=force"
    TIMEOUT 900 COST 35)
endif()
# The model's prefill on the int8-dot GEMM (test_kernels_mmq checks which pipelines it asked for).
if(TARGET test_kernels_mmq)
  add_test(NAME test_kernels_mmq_forced COMMAND test_kernels_mmq -tc=*model*)
  set_tests_properties(test_kernels_mmq_forced PROPERTIES ENVIRONMENT "VKRT_VALIDATION=1;VKRT_MMQ=force" TIMEOUT 900)
endif()
