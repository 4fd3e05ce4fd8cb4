#include "kernels/common/cpu_features.h"

#include <cstdlib>
#include <cstring>

namespace fassst {

bool cpu_has_avx2() {
#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
  static const bool has = [] {
    const char* off = std::getenv("FASSST_CPU_NO_AVX2");
    if (off != nullptr && off[0] != '\0' && std::strcmp(off, "0") != 0) return false;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0;
  }();
  return has;
#else
  return false;
#endif
}

}  // namespace fassst
