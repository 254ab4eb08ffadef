# Cross build for 64-bit ARM Linux with Debian's cross compiler (g++-aarch64-linux-gnu) and
# multiarch arm64 libraries (libvulkan-dev:arm64 in /usr/lib/aarch64-linux-gnu). Shader tools
# (glslc, spirv-val) run on the build machine. Executables built here run under qemu-user
# (CMAKE_CROSSCOMPILING_EMULATOR), so `ctest` works on the build machine too. Used by
# scripts/cross-aarch64.sh.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# qemu-aarch64 takes the arm64 dynamic loader and libraries from the host's multiarch folders
# (/lib/ld-linux-aarch64.so.1 from libc6:arm64).
find_program(VKRT_QEMU_AARCH64 qemu-aarch64)
if(VKRT_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${VKRT_QEMU_AARCH64})
endif()
