# vkrt-quantize refuses outputs that are not a new path or a regular file, and
# the input under another spelling; the input stays intact.
if(TARGET vkrt-quantize)
  set(_sw ${CMAKE_CURRENT_BINARY_DIR}/tmp/cli_safe_write)
  add_test(NAME cli_safe_write_setup COMMAND ${CMAKE_COMMAND} -E copy
    ${VKRT_MODELS_DIR}/stories260K.gguf ${_sw}/m.gguf)
  set_tests_properties(cli_safe_write_setup PROPERTIES FIXTURES_SETUP safe_write_input)
  add_test(NAME cli_quantize_same_file_other_spelling
    COMMAND vkrt-quantize -m ${_sw}/m.gguf -o ${_sw}/./m.gguf --type q8_0)
  add_test(NAME cli_quantize_output_dev_null
    COMMAND vkrt-quantize -m ${_sw}/m.gguf -o /dev/null --type q8_0)
  add_test(NAME cli_quantize_output_directory
    COMMAND vkrt-quantize -m ${_sw}/m.gguf -o ${_sw} --type q8_0)
  set_tests_properties(cli_quantize_same_file_other_spelling PROPERTIES FIXTURES_REQUIRED safe_write_input
    PASS_REGULAR_EXPRESSION "are the same file")
  set_tests_properties(cli_quantize_output_dev_null PROPERTIES FIXTURES_REQUIRED safe_write_input
    PASS_REGULAR_EXPRESSION "refusing to write '/dev/null': it is a character device")
  set_tests_properties(cli_quantize_output_directory PROPERTIES FIXTURES_REQUIRED safe_write_input
    PASS_REGULAR_EXPRESSION "it is a directory")
  # Afterwards the input is byte for byte the model it was copied from.
  add_test(NAME cli_safe_write_input_intact COMMAND ${CMAKE_COMMAND} -E compare_files
    ${VKRT_MODELS_DIR}/stories260K.gguf ${_sw}/m.gguf)
  set_tests_properties(cli_safe_write_input_intact PROPERTIES FIXTURES_REQUIRED safe_write_input
    DEPENDS "cli_quantize_same_file_other_spelling;cli_quantize_output_dev_null;cli_quantize_output_directory")
endif()
