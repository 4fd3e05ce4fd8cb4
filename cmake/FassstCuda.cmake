# Decides whether the CUDA kernels are built: FASSST_WITH_CUDA = OFF | AUTO | ON.
# AUTO builds them when a working CUDA compiler and the static CUDA runtime
# are found, and otherwise builds the CPU-only module with a message saying why.
# Sets FASSST_CUDA_ENABLED and, when enabled, CMAKE_CUDA_ARCHITECTURES.
set(FASSST_WITH_CUDA "AUTO" CACHE STRING "Build the CUDA kernels: OFF, AUTO or ON")
set_property(CACHE FASSST_WITH_CUDA PROPERTY STRINGS OFF AUTO ON)
string(TOUPPER "${FASSST_WITH_CUDA}" _fassst_cuda_mode)
if(NOT _fassst_cuda_mode MATCHES "^(OFF|AUTO|ON)$")
  message(FATAL_ERROR "FASSST_WITH_CUDA must be OFF, AUTO or ON, got '${FASSST_WITH_CUDA}'")
endif()

set(FASSST_CUDA_ENABLED OFF)
if(_fassst_cuda_mode STREQUAL "OFF")
  message(STATUS "fassst_rt: CUDA kernels disabled (FASSST_WITH_CUDA=OFF)")
  return()
endif()

include(CheckLanguage)
check_language(CUDA)
if(NOT CMAKE_CUDA_COMPILER)
  if(_fassst_cuda_mode STREQUAL "ON")
    message(FATAL_ERROR "FASSST_WITH_CUDA=ON but no working CUDA compiler was found; "
                        "set CMAKE_CUDA_COMPILER (and CMAKE_CUDA_HOST_COMPILER if needed)")
  endif()
  message(STATUS "fassst_rt: no CUDA compiler found, building the CPU-only module")
  return()
endif()

# Default targets by what the compiler can emit: CUDA 12 and older still
# reach Pascal (GTX 1080 Ti, sm_61) and Xavier (sm_72); CUDA 13 starts at sm_75.
# The last entry also embeds PTX so newer GPUs can JIT-compile it.
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES OR CMAKE_CUDA_ARCHITECTURES STREQUAL "")
  execute_process(COMMAND "${CMAKE_CUDA_COMPILER}" --version OUTPUT_VARIABLE _nvcc_version)
  string(REGEX MATCH "release ([0-9]+)" _ "${_nvcc_version}")
  if(CMAKE_MATCH_1 AND CMAKE_MATCH_1 LESS 13)
    set(CMAKE_CUDA_ARCHITECTURES "61-real;72-real;75-real;86-real;87")
  else()
    set(CMAKE_CUDA_ARCHITECTURES "75-real;86-real;87-real;89")
  endif()
endif()

enable_language(CUDA)
find_package(CUDAToolkit)
if(NOT TARGET CUDA::cudart_static)
  if(_fassst_cuda_mode STREQUAL "ON")
    message(FATAL_ERROR "FASSST_WITH_CUDA=ON but the static CUDA runtime (libcudart_static.a) "
                        "was not found; set CUDAToolkit_ROOT")
  endif()
  message(STATUS "fassst_rt: CUDA compiler found but no static CUDA runtime, building CPU-only")
  return()
endif()

set(FASSST_CUDA_ENABLED ON)
message(STATUS "fassst_rt: CUDA kernels enabled for architectures ${CMAKE_CUDA_ARCHITECTURES}")
