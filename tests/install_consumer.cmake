# CTest: install vkrt into a scratch prefix, then configure, build and run the
# consumer project (tests/consumer) against it with find_package(vkrt CONFIG), build
# the C consumer again with `cc $(pkg-config --cflags --libs vkrt)`, and run the Java
# consumer against the installed jar and JNI library (when the binding is built).
set(_prefix ${CMAKE_CURRENT_BINARY_DIR}/install-prefix)
set(_cbuild ${CMAKE_CURRENT_BINARY_DIR}/consumer-build)
set(_java_args)
if(TARGET vkrt_java)
  set(_java_args -DJAVA=${Java_JAVA_EXECUTABLE} -DJAVAC=${Java_JAVAC_EXECUTABLE})
endif()
set(_cflags "")
set(_lflags "")
if(VKRT_SANITIZE)
  set(_cflags "-fsanitize=${VKRT_SANITIZE}")
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    # the C consumer links libvkrt (C++): UBSan's C++ runtime and libstdc++ explicitly
    set(_lflags "-fsanitize-link-c++-runtime -lstdc++")
  endif()
endif()
add_test(NAME install_and_consume
  COMMAND ${CMAKE_COMMAND}
    -DVKRT_BUILD_DIR=${CMAKE_BINARY_DIR}
    -DPREFIX=${_prefix}
    -DLIBDIR=${CMAKE_INSTALL_LIBDIR}
    -DDATADIR=${CMAKE_INSTALL_DATADIR}
    -DCONSUMER_SRC=${CMAKE_CURRENT_SOURCE_DIR}/consumer
    -DCONSUMER_BUILD=${_cbuild}
    -DMODEL=${VKRT_MODELS_DIR}/stories260K.gguf
    ${_java_args}
    # A sanitizer build's library needs the consumer built the same way.
    -DCONSUMER_CC=${CMAKE_C_COMPILER}
    -DCONSUMER_CXX=${CMAKE_CXX_COMPILER}
    "-DCONSUMER_FLAGS=${_cflags}"
    "-DCONSUMER_LINK_FLAGS=${_lflags}"
    -P ${CMAKE_CURRENT_SOURCE_DIR}/consumer/run.cmake)
set_tests_properties(install_and_consume PROPERTIES TIMEOUT 600
  FAIL_REGULAR_EXPRESSION "WARNING in native method|FATAL ERROR in native method")
