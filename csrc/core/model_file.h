// Reading model files: only regular files of a bounded size are read, so that
// a path that names a device, a FIFO or a link to /dev/zero is refused at once
// instead of being read forever.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace fassst {

// Larger than any model this runtime runs (ONNX's protobuf limit is 2 GiB).
constexpr int64_t kMaxModelFileBytes = int64_t{4} << 30;

// Reads the file at `path` block by block into `consume`; throws ModelError
// naming the file and `what` it is when it is missing, not a regular file,
// larger than kMaxModelFileBytes or unreadable.
void read_model_file(const std::string& path, const char* what,
                     const std::function<void(const char* data, size_t size)>& consume);

// The whole file (same checks).
std::string read_model_file(const std::string& path, const char* what);

}  // namespace fassst
