# Long tests as several CTest tests, so that the README's `ctest -j2` keeps both cores busy
# to the end (docs/TESTING.md): a test of one process runs on one core while the other
# core has nothing left to start. Each part is a doctest filter (-tc) or a file list
# (VKRT_PPL_FILES, test::ppl_file_selected); together they run every case and file.

# test_llama_cpp_greedy: the F32 cache (strict: every id) and the F16 cache (near-ties).
# Its run on the fallback paths (tests/llama_cpp_greedy.cmake) takes the F32 case.
if(TARGET test_llama_cpp_greedy)
  add_test(NAME test_llama_cpp_greedy COMMAND test_llama_cpp_greedy -tc=*F32\ KV*)
  add_test(NAME test_llama_cpp_greedy_f16_cache COMMAND test_llama_cpp_greedy -tc=*F16\ KV*)
  set_tests_properties(test_llama_cpp_greedy test_llama_cpp_greedy_f16_cache PROPERTIES
    ENVIRONMENT "VKRT_VALIDATION=1" TIMEOUT ${VKRT_TEST_TIMEOUT})
endif()

# test_kernels_matmul: its two longest cases (on a clean machine, mostly lavapipe compiling
# their pipeline variants) as tests of their own, the other cases in the first. .ci/run's
# sanitizer pass leaves out all three by name.
if(TARGET test_kernels_matmul)
  set(_every "*every?format?x?path?x?capability*")  # doctest filters: ? is any character
  set(_7b "*llama-7B?shapes*")
  add_test(NAME test_kernels_matmul COMMAND test_kernels_matmul -tce=${_every},${_7b})
  add_test(NAME test_kernels_matmul_formats COMMAND test_kernels_matmul -tc=${_every})
  add_test(NAME test_kernels_matmul_7b COMMAND test_kernels_matmul -tc=${_7b})
  set_tests_properties(test_kernels_matmul test_kernels_matmul_formats test_kernels_matmul_7b PROPERTIES
    ENVIRONMENT "VKRT_VALIDATION=1" TIMEOUT ${VKRT_TEST_TIMEOUT})
endif()
