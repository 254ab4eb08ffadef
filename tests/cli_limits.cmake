# CLI numbers that overflow are refused naming the flag, never wrapped
# (-c 4294967297 used to be a context of 1).
if(TARGET vkrt-chat AND TARGET vkrt-bench)
  function(vkrt_cli_limit_test name flag value expect)
    add_test(NAME cli_chat_limit_${name}
      COMMAND vkrt-chat -m ${VKRT_MODELS_DIR}/stories260K.gguf -p hi ${flag} ${value})
    set_tests_properties(cli_chat_limit_${name} PROPERTIES
      PASS_REGULAR_EXPRESSION "vkrt-chat: error \\(invalid argument\\): ${expect}")
  endfunction()
  vkrt_cli_limit_test(ctx_2p32 -c 4294967297 "flag -c: 4294967297 is out of range \\[0, 2147483647\\]")
  vkrt_cli_limit_test(ctx_negative -c -1 "flag -c: -1 is out of range")
  vkrt_cli_limit_test(n_2p32 -n 4294967296 "flag -n: 4294967296 is out of range")
  vkrt_cli_limit_test(n_2p64 -n 18446744073709551617 "flag -n: 18446744073709551617 is out of range")
  vkrt_cli_limit_test(temp_nan --temp nan "flag --temp: nan is not a finite number")
  vkrt_cli_limit_test(temp_junk --temp 0.5x "flag --temp: '0.5x' is not a number")
  vkrt_cli_limit_test(topk_junk --top-k 12abc "flag --top-k: '12abc' is not an integer")
  add_test(NAME cli_bench_limit_prompt
    COMMAND vkrt-bench -m ${VKRT_MODELS_DIR}/stories260K.gguf -p 2147483647 -n 1 -r 1)
  set_tests_properties(cli_bench_limit_prompt PROPERTIES
    PASS_REGULAR_EXPRESSION "flag -p: 2147483647 is out of range \\[0, 2147483646\\]")
endif()
