// SHA-256 of a file (FIPS 180-4), for the model files' integrity checks
// (the tail graph's hash in the metadata). In-tree so that the core needs no
// crypto library; it is not used for anything security-relevant.
#pragma once

#include <string>

namespace fassst {

// Lower-case hex digest of the file's bytes; throws ModelError when the file
// cannot be read.
std::string sha256_file(const std::string& path);

// Lower-case hex digest of a byte string.
std::string sha256_bytes(const std::string& bytes);

}  // namespace fassst
