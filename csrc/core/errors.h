// The errors of the C++ core and the helpers that build their messages.
// Messages name the argument, what was expected and what came; the Python
// bindings map InvalidArgument to ValueError.
#pragma once

#include <initializer_list>
#include <sstream>
#include <string>

#include "fassst/errors.h"

namespace fassst {

// Error, InvalidArgument, ModelError, MetadataError, BackendError and
// CudaError are public (fassst/errors.h): the C++ API throws the core's errors
// unchanged.

// Concatenates streamable parts into a message.
template <typename... Parts>
std::string message(const Parts&... parts) {
  std::ostringstream out;
  (void)std::initializer_list<int>{(out << parts, 0)...};
  return out.str();
}

// "(2, 128, 52, 52)"
template <typename Int>
std::string shape_string(std::initializer_list<Int> dims) {
  std::ostringstream out;
  out << "(";
  bool first = true;
  for (Int d : dims) {
    if (!first) out << ", ";
    out << d;
    first = false;
  }
  out << ")";
  return out.str();
}

}  // namespace fassst
