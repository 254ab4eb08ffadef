# Saved sessions across processes: test_capi_session saves a seeded sampled conversation
# mid-way (FIXTURES_SETUP), a second process restores it and must continue with the same
# ids and logits. The in-process cases of test_capi_session (threads: cancel from another
# thread, cancel racing free) need pthreads.
find_package(Threads REQUIRED)
target_link_libraries(test_capi_session PRIVATE Threads::Threads)
set(_vkrt_state_file ${CMAKE_CURRENT_BINARY_DIR}/tmp/session_state.bin)
add_test(NAME test_capi_session_save COMMAND test_capi_session save ${_vkrt_state_file})
add_test(NAME test_capi_session_load COMMAND test_capi_session load ${_vkrt_state_file})
set_tests_properties(test_capi_session_save PROPERTIES FIXTURES_SETUP vkrt_session_state)
set_tests_properties(test_capi_session_load PROPERTIES FIXTURES_REQUIRED vkrt_session_state)
set_tests_properties(test_capi_session_save test_capi_session_load PROPERTIES ENVIRONMENT "VKRT_VALIDATION=1"
  TIMEOUT ${VKRT_TEST_TIMEOUT} FAIL_REGULAR_EXPRESSION "vkrt: validation (error|warning)")

# vkrt-chat's session commands and its context shift, scripted on stdin (stories260K,
# greedy): /undo and /regen go back to the tokens of the exchange, /save and /load keep the
# conversation, a reply longer than -c goes on past it.
if(TARGET vkrt-chat)
  set(_vkrt_chat "$<TARGET_FILE:vkrt-chat>")
  set(_vkrt_chat_model "${VKRT_MODELS_DIR}/stories260K.gguf")
  set(_vkrt_chat_file "${CMAKE_CURRENT_BINARY_DIR}/tmp/chat_session.bin")
  add_test(NAME cli_chat_session_commands COMMAND sh -c
    "printf 'Once upon a time\\n/undo\\nOnce upon a time\\n/regen\\n/save ${_vkrt_chat_file}\\nThe dog\\n/load ${_vkrt_chat_file}\\nThe dog\\n/load /nonexistent\\n' | \"${_vkrt_chat}\" -m \"${_vkrt_chat_model}\" -n 12 --temp 0 -c 256")
  set_tests_properties(cli_chat_session_commands PROPERTIES ENVIRONMENT "VKRT_VALIDATION=1" TIMEOUT ${VKRT_TEST_TIMEOUT}
    PASS_REGULAR_EXPRESSION "undo: 0 tokens.*regen: 5 tokens.*saved 17 tokens.*loaded 17 tokens.*cannot open '/nonexistent'")
  add_test(NAME cli_chat_context_shift COMMAND sh -c
    "printf 'Once upon a time\\n' | \"${_vkrt_chat}\" -m \"${_vkrt_chat_model}\" -n 80 --temp 0 -c 32")
  set_tests_properties(cli_chat_context_shift PROPERTIES ENVIRONMENT "VKRT_VALIDATION=1" TIMEOUT ${VKRT_TEST_TIMEOUT}
    PASS_REGULAR_EXPRESSION "context shifted.*decode 80 tokens")
  # Ctrl-C while a reply streams cancels the reply, twice, and the program goes on.
  add_test(NAME cli_chat_ctrl_c COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/chat_ctrl_c.sh "${_vkrt_chat}"
    "${_vkrt_chat_model}" ${CMAKE_CURRENT_BINARY_DIR}/tmp/chat_ctrl_c)
  set_tests_properties(cli_chat_ctrl_c PROPERTIES ENVIRONMENT "VKRT_VALIDATION=1" TIMEOUT 300
    PASS_REGULAR_EXPRESSION "ctrl-c: 2 replies cancelled" FAIL_REGULAR_EXPRESSION "vkrt: validation (error|warning)")
endif()

# test_capi_chat cancels a chat generation from another thread.
target_link_libraries(test_capi_chat PRIVATE Threads::Threads)
