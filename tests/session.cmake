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
