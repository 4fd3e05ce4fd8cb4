// What the CPU running the kernels can execute, asked once per process. The
// kernels compile some loops twice (a baseline copy and one for a wider
// instruction set) and pick the copy per call from these answers.
#pragma once

namespace fassst {

// Whether the AVX2 copies of the loops may run: on x86-64 built by GCC or
// Clang, where the CPU has AVX2, unless the environment variable
// FASSST_CPU_NO_AVX2 is set to a non-empty value other than "0" (to test the
// baseline copy on an AVX2 machine; both give the same bits). False
// elsewhere.
bool cpu_has_avx2();

}  // namespace fassst
