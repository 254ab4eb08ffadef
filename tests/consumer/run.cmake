# Driven by the install_and_consume test (see tests/install_consumer.cmake): install vkrt into
# a scratch prefix, then use it from outside the tree through its CMake package (C and C++),
# through pkg-config with the plain C compiler, and from Java when the binding was built.
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
set(ENV{LD_LIBRARY_PATH} "${PREFIX}/${LIBDIR}:$ENV{LD_LIBRARY_PATH}")
run(${CONSUMER_BUILD}/consumer_c ${MODEL})
run(${CONSUMER_BUILD}/consumer_cpp ${MODEL})

# pkg-config, as a Makefile or shell build would use it.
set(ENV{PKG_CONFIG_PATH} "${PREFIX}/${LIBDIR}/pkgconfig")
run(pkg-config --print-errors --cflags --libs vkrt)
set(_cc cc)
if(CONSUMER_FLAGS)  # a sanitizer build's library needs its compiler and flags
  set(_cc "${CONSUMER_CC} ${CONSUMER_FLAGS} ${CONSUMER_LINK_FLAGS}")
endif()
run(sh -c "${_cc} -O2 -Wall -Werror ${CONSUMER_SRC}/main.c $(pkg-config --cflags --libs vkrt) -o ${CONSUMER_BUILD}/consumer_pkgconfig")
run(${CONSUMER_BUILD}/consumer_pkgconfig ${MODEL})

if(JAVA AND JAVAC)
  file(MAKE_DIRECTORY ${CONSUMER_BUILD}/java)
  run(${JAVAC} -d ${CONSUMER_BUILD}/java -cp ${PREFIX}/${DATADIR}/java/vkrt.jar ${CONSUMER_SRC}/Consumer.java)
  run(${JAVA} -Xcheck:jni -Djava.library.path=${PREFIX}/${LIBDIR}
      -cp ${CONSUMER_BUILD}/java:${PREFIX}/${DATADIR}/java/vkrt.jar Consumer ${MODEL})
endif()
