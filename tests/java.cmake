# The Java binding on a real JVM (bindings/java; built when a JDK is found): one CTest test
# per case of tests/java/org/vkrt/JavaTests.java, with -Xcheck:jni (the JVM checks every JNI
# call; any warning it prints fails the test) and the validation layer on.
if(TARGET vkrt_java)
  include(UseJava)
  get_target_property(_vkrt_jar vkrt_java JAR_FILE)
  get_filename_component(_vkrt_java_dir ${_vkrt_jar} DIRECTORY)
  set(CMAKE_JAVA_COMPILE_FLAGS -Xlint:all -Werror -encoding UTF-8)
  # The Android sample's controller (no android.* in it) runs here too: case android_chat.
  add_jar(vkrt_java_tests SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/java/org/vkrt/JavaTests.java
          ${PROJECT_SOURCE_DIR}/samples/android/app/src/main/java/org/vkrt/sample/ChatController.java
          INCLUDE_JARS vkrt_java OUTPUT_NAME vkrt_tests OUTPUT_DIR ${_vkrt_java_dir})
  get_target_property(_vkrt_tests_jar vkrt_java_tests JAR_FILE)
  foreach(case greedy cancel threads close_orders gc errors text native_thread chat session_state android_chat)
    add_test(NAME java_${case}
      COMMAND ${Java_JAVA_EXECUTABLE} -ea -Xcheck:jni -Djava.library.path=$<TARGET_FILE_DIR:vkrt_jni>
              -cp ${_vkrt_jar}:${_vkrt_tests_jar} org.vkrt.JavaTests ${case} ${VKRT_MODELS_DIR})
    set_tests_properties(java_${case} PROPERTIES ENVIRONMENT "VKRT_VALIDATION=1" TIMEOUT 900
      FAIL_REGULAR_EXPRESSION "WARNING in native method|FATAL ERROR in native method")
  endforeach()
  # The Android sample's Java (the activity too) compiles against the binding: javac with
  # android.* stand-ins (no SDK here; tests/java/android_stubs).
  add_test(NAME android_sample_compiles
    COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/java/android_sample_compiles.sh ${_vkrt_jar} ${PROJECT_SOURCE_DIR}
            ${CMAKE_CURRENT_BINARY_DIR}/tmp/android_sample)
  set_tests_properties(android_sample_compiles PROPERTIES TIMEOUT 300 PASS_REGULAR_EXPRESSION "android sample: compiled")
endif()
