# The architecture conformance tests on the fallback paths (integer dot, float16 and
# subgroup operations forced off), and the perplexity of every architecture's file in
# ../shared/models/arch against llama.cpp's (tests/arch_perplexity.cpp: one CTest test
# per file, so that they run in parallel).
if(TARGET test_arch)
  add_test(NAME test_arch_fallback_paths COMMAND test_arch -tc=*synthetic*)
  set_tests_properties(test_arch_fallback_paths PROPERTIES
    ENVIRONMENT "VKRT_VALIDATION=1;VKRT_DISABLE=dot,fp16,subgroup" TIMEOUT 900)
endif()
add_executable(arch_perplexity ${CMAKE_CURRENT_SOURCE_DIR}/arch_perplexity.cpp)
target_link_libraries(arch_perplexity PRIVATE vkrt_test_support)
foreach(f llama_ropefreqs-f32 qwen2-f32 qwen3-f32 gemma3-f32 phi3-f32)
  add_test(NAME arch_perplexity_${f} COMMAND arch_perplexity -tc=${f})
  set_tests_properties(arch_perplexity_${f} PROPERTIES ENVIRONMENT "VKRT_VALIDATION=1" TIMEOUT 900)
endforeach()
# vkrt-quantize on a fused architecture (phi3: attn_qkv, gate|up ffn_up) with SmoothQuant
# and a sensitivity report, then the chat sample on its W8A8 output (phi3-f32 computes
# stories260K's function, so the greedy text starts as stories260K's does).
if(TARGET vkrt-quantize AND TARGET vkrt-chat)
  set(_phi3_w8 ${CMAKE_CURRENT_BINARY_DIR}/tmp/cli-phi3-w8a8.gguf)
  add_test(NAME cli_quantize_phi3_w8a8
    COMMAND vkrt-quantize -m ${VKRT_MODELS_DIR}/arch/phi3-f32.gguf -o ${_phi3_w8} --type w8a8
            --calib-tokens 512 --sensitivity ${CMAKE_CURRENT_BINARY_DIR}/tmp/cli-phi3-sensitivity.md)
  set_tests_properties(cli_quantize_phi3_w8a8 PROPERTIES FIXTURES_SETUP phi3_w8a8_file
    PASS_REGULAR_EXPRESSION "sensitivity report:.*I8 \\(W8A8\\)")
  add_test(NAME cli_chat_on_phi3_w8a8 COMMAND vkrt-chat -m ${_phi3_w8} -p "Once upon a time" -n 8 --temp 0)
  set_tests_properties(cli_chat_on_phi3_w8a8 PROPERTIES FIXTURES_REQUIRED phi3_w8a8_file
    ENVIRONMENT "VKRT_VALIDATION=1"
    PASS_REGULAR_EXPRESSION "Once upon a time, there was a.*decode 8 tokens")
endif()
