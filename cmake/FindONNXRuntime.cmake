# Finds the ONNX Runtime C/C++ SDK: onnxruntime_cxx_api.h and libonnxruntime.
#
# Looks first in ONNXRUNTIME_ROOT (CMake variable or environment variable):
# an official release directory (onnxruntime-linux-x64-1.xx: include/, lib/),
# or the SDK tools/fetch_onnxruntime_sdk.sh assembles (Debian trixie headers
# + the Python wheel's library, same layout); then the system paths
# (include/onnxruntime/ as distributions install it).
#
# Result: ONNXRuntime_FOUND, ONNXRuntime_INCLUDE_DIR, ONNXRuntime_LIBRARY,
# ONNXRuntime_LIBRARY_DIR, ONNXRuntime_VERSION (the C API version of the
# headers, as "1.<ORT_API_VERSION>"), and the imported target
# ONNXRuntime::ONNXRuntime.
set(_ort_hints)
if(ONNXRUNTIME_ROOT)
  list(APPEND _ort_hints "${ONNXRUNTIME_ROOT}")
endif()
if(DEFINED ENV{ONNXRUNTIME_ROOT})
  list(APPEND _ort_hints "$ENV{ONNXRUNTIME_ROOT}")
endif()

find_path(ONNXRuntime_INCLUDE_DIR onnxruntime_cxx_api.h
  HINTS ${_ort_hints}
  PATH_SUFFIXES include include/onnxruntime include/onnxruntime/core/session)
find_library(ONNXRuntime_LIBRARY NAMES onnxruntime
  HINTS ${_ort_hints}
  PATH_SUFFIXES lib lib64)

if(ONNXRuntime_INCLUDE_DIR AND EXISTS "${ONNXRuntime_INCLUDE_DIR}/onnxruntime_c_api.h")
  file(STRINGS "${ONNXRuntime_INCLUDE_DIR}/onnxruntime_c_api.h" _ort_api_line
       REGEX "^#define ORT_API_VERSION [0-9]+")
  string(REGEX MATCH "[0-9]+" _ort_api "${_ort_api_line}")
  if(_ort_api)
    set(ONNXRuntime_VERSION "1.${_ort_api}")
  endif()
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(ONNXRuntime
  REQUIRED_VARS ONNXRuntime_LIBRARY ONNXRuntime_INCLUDE_DIR
  VERSION_VAR ONNXRuntime_VERSION
  REASON_FAILURE_MESSAGE
    "set ONNXRUNTIME_ROOT to an ONNX Runtime release directory (include/onnxruntime_cxx_api.h, lib/libonnxruntime.so), or run tools/fetch_onnxruntime_sdk.sh")

if(ONNXRuntime_FOUND)
  get_filename_component(ONNXRuntime_LIBRARY_DIR "${ONNXRuntime_LIBRARY}" DIRECTORY)
  if(NOT TARGET ONNXRuntime::ONNXRuntime)
    add_library(ONNXRuntime::ONNXRuntime UNKNOWN IMPORTED)
    set_target_properties(ONNXRuntime::ONNXRuntime PROPERTIES
      IMPORTED_LOCATION "${ONNXRuntime_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${ONNXRuntime_INCLUDE_DIR}")
  endif()
endif()
mark_as_advanced(ONNXRuntime_INCLUDE_DIR ONNXRuntime_LIBRARY)
