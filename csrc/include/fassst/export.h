// FASSST_API marks what libfassst_rt exports (the library is built with
// hidden visibility; everything else stays internal).
#pragma once

#if defined(_WIN32)
#if defined(FASSST_RT_BUILDING)
#define FASSST_API __declspec(dllexport)
#else
#define FASSST_API
#endif
#else
#define FASSST_API __attribute__((visibility("default")))
#endif
