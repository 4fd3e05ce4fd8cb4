# FASSST_SANITIZE: builds the C++ core, the C++/C API and the C++ tests with
# AddressSanitizer (LeakSanitizer included on x86-64 Linux) and
# UndefinedBehaviorSanitizer, every UB finding fatal. For CTest builds
# (.ci/run, docs/hardening.md), not for the Python extension: a sanitized
# _C would need the sanitizer runtimes preloaded into Python.
#
#   cmake -S . -B build/asan -DFASSST_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
#   fassst_sanitize(<target>...)   # in the CMakeLists that define the targets
option(FASSST_SANITIZE "Build the core, the C/C++ API and the C++ tests with ASan + UBSan (+ LSan)" OFF)

if(FASSST_SANITIZE AND SKBUILD)
  message(FATAL_ERROR "FASSST_SANITIZE is for the plain CMake build and its CTest suite; "
                      "the Python extension cannot load the sanitizer runtimes by itself")
endif()
if(FASSST_SANITIZE AND NOT CMAKE_CXX_COMPILER_ID MATCHES "^(GNU|Clang)$")
  message(FATAL_ERROR "FASSST_SANITIZE needs GCC or Clang, got ${CMAKE_CXX_COMPILER_ID}")
endif()

# float-cast-overflow is not part of GCC's -fsanitize=undefined, and a NaN or
# out-of-range float converted to an int is the UB the ROI kernels and the
# paste are most exposed to; it is named explicitly.
set(FASSST_SANITIZE_FLAGS
    -fsanitize=address,undefined,float-cast-overflow
    -fno-omit-frame-pointer
    -fno-sanitize-recover=undefined,float-cast-overflow)

# Adds the sanitizer flags to each target's compile and link steps (no-op
# unless FASSST_SANITIZE). Link flags go to static libraries too, so that
# their consumers link the sanitizer runtimes.
function(fassst_sanitize)
  if(NOT FASSST_SANITIZE)
    return()
  endif()
  foreach(target IN LISTS ARGN)
    # C and C++ only: CUDA sources of the same target are left alone (nvcc).
    target_compile_options(${target} PRIVATE "$<$<COMPILE_LANGUAGE:C,CXX>:${FASSST_SANITIZE_FLAGS}>")
    get_target_property(_type ${target} TYPE)
    if(_type STREQUAL "STATIC_LIBRARY")
      target_link_options(${target} INTERFACE ${FASSST_SANITIZE_FLAGS})
    else()
      target_link_options(${target} PRIVATE ${FASSST_SANITIZE_FLAGS})
    endif()
  endforeach()
endfunction()

if(FASSST_SANITIZE)
  message(STATUS "fassst_rt: sanitizers on (${FASSST_SANITIZE_FLAGS})")
endif()
