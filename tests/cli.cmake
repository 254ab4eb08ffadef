# The samples as a user runs them (the README's first command, the benchmark, bad input).
if(TARGET vkrt-chat AND TARGET vkrt-bench)
  set(_model ${VKRT_MODELS_DIR}/stories260K.gguf)
  add_test(NAME cli_chat_completion
    COMMAND vkrt-chat -m ${_model} -p "Once upon a time" -n 24 --temp 0)
  set_tests_properties(cli_chat_completion PROPERTIES
    PASS_REGULAR_EXPRESSION "Once upon a time, there was a little girl named Lily"
    ENVIRONMENT "VKRT_VALIDATION=1")
  add_test(NAME cli_chat_bad_model COMMAND vkrt-chat -m ${CMAKE_CURRENT_BINARY_DIR}/no-such.gguf -p hi)
  set_tests_properties(cli_chat_bad_model PROPERTIES
    PASS_REGULAR_EXPRESSION "vkrt-chat: error \\(I/O error\\).*no-such.gguf")
  add_test(NAME cli_chat_bad_flag COMMAND vkrt-chat -m ${_model} --no-such-flag)
  set_tests_properties(cli_chat_bad_flag PROPERTIES
    PASS_REGULAR_EXPRESSION "unknown argument '--no-such-flag'")
  add_test(NAME cli_bench_devices COMMAND vkrt-bench --devices)
  set_tests_properties(cli_bench_devices PROPERTIES
    PASS_REGULAR_EXPRESSION "integer dot product:.*maxStorageBufferRange")
  add_test(NAME cli_bench_model COMMAND vkrt-bench -m ${_model} -p 32 -n 8 -r 1)
  set_tests_properties(cli_bench_model PROPERTIES PASS_REGULAR_EXPRESSION "\\| pp32 \\|.*\\| tg8 \\|")
endif()
