// SHA-256 of a file (FIPS 180-4), for the model files' integrity checks
// (the tail graph's hash in the metadata). In-tree so that the core needs no
// crypto library; it is not used for anything security-relevant.
#pragma once

#include <string>

namespace fassst {

// Lower-case hex digest of the file's bytes; throws ModelError when it is not
// a readable regular file of model size (core/model_file.h).
std::string sha256_file(const std::string& path);

// Lower-case hex digest of a byte string.
std::string sha256_bytes(const std::string& bytes);

}  // namespace fassst
