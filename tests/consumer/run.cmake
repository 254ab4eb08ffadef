# Driven by the install_and_consume test (see tests/install_consumer.cmake).
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message("${out}${err}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}")
  endif()
endfunction()
file(REMOVE_RECURSE ${PREFIX} ${CONSUMER_BUILD})
run(${CMAKE_COMMAND} --install ${VKRT_BUILD_DIR} --prefix ${PREFIX})
run(${CMAKE_COMMAND} -S ${CONSUMER_SRC} -B ${CONSUMER_BUILD} -DCMAKE_PREFIX_PATH=${PREFIX} -DCMAKE_BUILD_TYPE=Release
    -DCMAKE_C_COMPILER=${CONSUMER_CC} -DCMAKE_CXX_COMPILER=${CONSUMER_CXX}
    "-DCMAKE_C_FLAGS=${CONSUMER_FLAGS}" "-DCMAKE_CXX_FLAGS=${CONSUMER_FLAGS}"
    "-DCMAKE_EXE_LINKER_FLAGS=${CONSUMER_LINK_FLAGS}")
run(${CMAKE_COMMAND} --build ${CONSUMER_BUILD})
set(ENV{LD_LIBRARY_PATH} "${PREFIX}/lib:$ENV{LD_LIBRARY_PATH}")
run(${CONSUMER_BUILD}/consumer_c ${MODEL})
run(${CONSUMER_BUILD}/consumer_cpp ${MODEL})
