// The errors of the C++ core. Messages name the argument, what was expected
// and what came; the Python bindings map InvalidArgument to ValueError.
#pragma once

#include <initializer_list>
#include <sstream>
#include <stdexcept>
#include <string>

namespace fassst {

// Base of every error the core throws.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A caller passed something the operation does not accept.
class InvalidArgument : public Error {
 public:
  using Error::Error;
};

// A CUDA call failed or no usable GPU exists.
class CudaError : public Error {
 public:
  using Error::Error;
};

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
