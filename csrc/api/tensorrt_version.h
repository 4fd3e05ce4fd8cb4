// The TensorRT library version as getInferLibVersion() reports it, decoded
// and compared with the version a sidecar records. Header-only and free of
// TensorRT headers, so that it is tested where TensorRT is absent
// (tests/cpp/test_tensorrt_version.cpp).
//
// getInferLibVersion() encodes MAJOR * 1000 + MINOR * 100 + PATCH up to 8.x
// (8.6.1 -> 8601) and (MAJOR * 100 + MINOR) * 100 + PATCH from 9.0 on
// (10.13.0 -> 101300, 11.1.0 -> 110100), as NvInferRuntimeCommon.h /
// NvInferRuntimeBase.h of each release document it.
#pragma once

#include <cstdint>
#include <string>

namespace fassst {
namespace trt_version {

struct Version {
  int major = 0, minor = 0, patch = 0;
};

inline Version decode(int32_t lib_version) {
  Version v;
  if (lib_version >= 10000) {  // 9.0 on: (MAJOR * 100 + MINOR) * 100 + PATCH
    v.major = lib_version / 10000;
    v.minor = lib_version / 100 % 100;
  } else {  // up to 8.x: MAJOR * 1000 + MINOR * 100 + PATCH
    v.major = lib_version / 1000;
    v.minor = lib_version / 100 % 10;
  }
  v.patch = lib_version % 100;
  return v;
}

inline std::string to_string(const Version& v) {
  return std::to_string(v.major) + "." + std::to_string(v.minor) + "." + std::to_string(v.patch);
}

// Whether `recorded` ("8.6.1.6", "10.13.0.35") names the release `loaded`:
// major, minor and patch equal ("8.5.2" must not match "8.5.20.1"). Engines
// load only in the TensorRT that built them; the build number is not in
// getInferLibVersion(), so it is not compared.
inline bool same_release(const std::string& recorded, const Version& loaded) {
  const std::string want = to_string(loaded);
  return recorded.compare(0, want.size(), want) == 0 &&
         (recorded.size() == want.size() || recorded[want.size()] == '.');
}

}  // namespace trt_version
}  // namespace fassst
