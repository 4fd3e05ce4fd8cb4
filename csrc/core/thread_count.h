// The CPU thread counts the core accepts: 0 (one per hardware thread) up to
// kMaxNumThreads. A count far beyond any CPU (a typo, a wrapped integer) would
// otherwise ask the OS for that many threads on every call.
#pragma once

#include <cstdint>

#include "core/errors.h"
#include "parallel/thread_pool.h"

namespace fassst {

// Returns `value` as an int; throws InvalidArgument naming `name` (e.g.
// "num_threads") unless 0 <= value <= kMaxNumThreads.
inline int checked_num_threads(const char* name, int64_t value) {
  if (value < 0 || value > kMaxNumThreads)
    throw InvalidArgument(message(name, " must be in [0, ", kMaxNumThreads,
                                  "] (0: one per hardware thread), got ", value));
  return static_cast<int>(value);
}

}  // namespace fassst
