# The simulated minimum-limits device (VKRT_LIMITS=min: 128 invocations and 16 KiB of
# shared memory a workgroup, 128 MiB bindings, as a low-end phone reports; runtime/vk/
# device.cpp apply_min_limits) with the shapes a GPU gets (VKRT_DISABLE=cpu_tuning): every
# pipeline is checked against those limits before it is created (runtime/vk/pipeline.cpp
# check_limits), so a kernel shape that does not fit fails here. A quick representative
# subset: the device checks, the row/elementwise/rope/KV/attention kernels, quantize, the
# GEMV and GEMM tiles with weights in parts, and greedy decoding of whole models.
if(TARGET test_device AND TARGET test_kernels_block AND TARGET test_kernels_quantize AND TARGET test_kernels_matmul
   AND TARGET test_model)
  add_test(NAME test_device_limits_min COMMAND test_device)
  add_test(NAME test_kernels_block_limits_min COMMAND test_kernels_block)
  add_test(NAME test_kernels_quantize_limits_min COMMAND test_kernels_quantize)
  add_test(NAME test_kernels_matmul_limits_min COMMAND test_kernels_matmul -tc=*GEMM\ tile*,*parts*)
  add_test(NAME test_model_limits_min COMMAND test_model -tc=*greedy*,*synthetic*,*prefill*)
  set_tests_properties(test_device_limits_min test_kernels_block_limits_min test_kernels_quantize_limits_min
    test_kernels_matmul_limits_min test_model_limits_min
    PROPERTIES ENVIRONMENT "VKRT_VALIDATION=1;VKRT_LIMITS=min;VKRT_DISABLE=cpu_tuning" TIMEOUT 900)
endif()
