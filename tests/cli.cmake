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
  # Device memory of the model and the session; KV bytes as llama.cpp counts them:
  # 5 layers x 4096 positions x 32 values x (34/32 + 34/32) bytes = 1.33 MiB for q8_0.
  add_test(NAME cli_bench_memory COMMAND vkrt-bench -m ${_model} -p 0 -n 0 -c 4096 -ctk q8_0 -ctv q8_0)
  set_tests_properties(cli_bench_memory PROPERTIES PASS_REGULAR_EXPRESSION
    "memory: weights 1.12 MiB \\| KV cache 1.33 MiB \\(K q8_0, V q8_0, 4096 positions\\).*llama.cpp KV cache at n_ctx 4096, same types: 1.33 MiB")
  # Gemma 3's sliding-window layers (4 of 5 here, window 16) keep only their window: one-token
  # batches, so 16 rows each; layer 2 keeps 4096. F16: (4096 + 4 x 16) x 32 values x 2 x 2
  # bytes = 520 KiB (2.5 MiB with every layer at n_ctx); llama.cpp: 4096 + 4 x 768 cells
  # (16 + n_ubatch 512, padded to 256) = 896 KiB.
  add_test(NAME cli_bench_memory_swa COMMAND vkrt-bench -m ${VKRT_MODELS_DIR}/arch/gemma3-f32.gguf -p 0 -n 0 -c 4096)
  set_tests_properties(cli_bench_memory_swa PROPERTIES PASS_REGULAR_EXPRESSION
    "KV cache 520.0 KiB \\(K f16, V f16, 4096 positions; 4 sliding-window layers keep 16\\).*llama.cpp KV cache at n_ctx 4096, same types: 896.0 KiB \\(sliding-window")
  add_test(NAME cli_bench_bad_cache_type COMMAND vkrt-bench -m ${_model} -p 0 -n 0 -ctv q4_0)
  set_tests_properties(cli_bench_bad_cache_type PROPERTIES PASS_REGULAR_EXPRESSION
    "-ctv: unsupported KV cache type 'q4_0' \\(supported: f32, f16, q8_0\\)")
  # The chat with an 8-bit cache still tells the story (greedy).
  add_test(NAME cli_chat_q8_0_cache
    COMMAND vkrt-chat -m ${_model} -p "Once upon a time" -n 24 --temp 0 -ctk q8_0 -ctv q8_0)
  set_tests_properties(cli_chat_q8_0_cache PROPERTIES
    PASS_REGULAR_EXPRESSION "KV cache [0-9.]+ KiB \\(K q8_0, V q8_0.*Once upon a time, there was a little girl named Lily"
    ENVIRONMENT "VKRT_VALIDATION=1")
endif()
if(TARGET vkrt-quantize AND TARGET vkrt-chat)
  # vkrt-quantize writes a Q4_0 file that the runtime then loads and runs (a fixture chain).
  set(_q4 ${CMAKE_CURRENT_BINARY_DIR}/tmp/cli-stories260K-q4_0.gguf)
  add_test(NAME cli_quantize_q4_0
    COMMAND vkrt-quantize -m ${VKRT_MODELS_DIR}/stories260K.gguf -o ${_q4} --type q4_0)
  set_tests_properties(cli_quantize_q4_0 PROPERTIES FIXTURES_SETUP q4_file
    PASS_REGULAR_EXPRESSION "rows of 172 do not fit")
  add_test(NAME cli_chat_on_quantized COMMAND vkrt-chat -m ${_q4} -p "Once upon a time" -n 8 --temp 0)
  set_tests_properties(cli_chat_on_quantized PROPERTIES FIXTURES_REQUIRED q4_file
    PASS_REGULAR_EXPRESSION "Once upon a time.*decode 8 tokens")
endif()
if(TARGET vkrt-chat)
  # Interactive mode: two lines on stdin, then EOF; a base model continues each line.
  add_test(NAME cli_chat_interactive
    COMMAND sh -c "printf 'Once upon a time\\nThe cat\\n' | \"$<TARGET_FILE:vkrt-chat>\" -m \"${VKRT_MODELS_DIR}/stories260K.gguf\" -n 12 --temp 0")
  set_tests_properties(cli_chat_interactive PROPERTIES
    PASS_REGULAR_EXPRESSION "chat template: none.*there was a little girl.*decode 2[0-9] tokens")
endif()
if(TARGET vkrt-chat)
  # The chat API from the sample: a multi-turn chat in a named template reuses the cached
  # prefix on the second turn; --json-schema constrains a completion to the schema.
  add_test(NAME cli_chat_multiturn
    COMMAND sh -c "printf 'Tell me a story\\nMore\\n' | \"$<TARGET_FILE:vkrt-chat>\" -m \"${VKRT_MODELS_DIR}/stories260K.gguf\" --chat-template chatml -s 'You tell stories.' -n 16 --temp 0")
  set_tests_properties(cli_chat_multiturn PROPERTIES ENVIRONMENT "VKRT_VALIDATION=1"
    PASS_REGULAR_EXPRESSION "chat template: chatml.*prompt tokens \\([1-9][0-9]* from the cache\\) \\| decode 32 tokens")
  add_test(NAME cli_chat_json_schema
    COMMAND vkrt-chat -m ${VKRT_MODELS_DIR}/stories260K.gguf -p "Once upon a time" --no-display-prompt
            --json-schema ${CMAKE_CURRENT_SOURCE_DIR}/data/person.schema.json --seed 3)
  set_tests_properties(cli_chat_json_schema PROPERTIES ENVIRONMENT "VKRT_VALIDATION=1"
    PASS_REGULAR_EXPRESSION "^[ \n]*\\{[ \n]*\"name\"[ \n]*:[ \n]*\"[^\"]*\"[ \n]*,[ \n]*\"age\"[ \n]*:[ \n]*-?[0-9]+[ \n]*\\}[ \n]*.*finish: eog")
  add_test(NAME cli_chat_bad_schema COMMAND vkrt-chat -m ${VKRT_MODELS_DIR}/stories260K.gguf -p hi
            --json-schema ${CMAKE_CURRENT_SOURCE_DIR}/data/person.schema.json.missing)
  set_tests_properties(cli_chat_bad_schema PROPERTIES
    PASS_REGULAR_EXPRESSION "vkrt-chat: error \\(I/O error\\).*person.schema.json.missing")
endif()
