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

# test_model_perplexity (tests/CMakeLists.txt, VKRT_PERPLEXITY_SPLIT): 100 chunks of three
# files, one CTest test each (the first keeps the name).
if(TEST test_model_perplexity)
  get_test_property(test_model_perplexity ENVIRONMENT _env)
  set_tests_properties(test_model_perplexity PROPERTIES ENVIRONMENT "${_env};VKRT_PPL_FILES=stories260K.gguf")
  foreach(q q8_0 q4_0)
    add_test(NAME test_model_perplexity_${q} COMMAND test_model -tc=*perplexity*)
    set_tests_properties(test_model_perplexity_${q} PROPERTIES
      ENVIRONMENT "${_env};VKRT_PPL_FILES=llama.cpp/stories260K-${q}.gguf" TIMEOUT ${VKRT_TEST_TIMEOUT}
      LABELS quality)
  endforeach()
endif()
