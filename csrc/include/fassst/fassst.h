// fassst_rt C++ API: the one header an application includes
// (find_package(fassst_rt CONFIG) -> target fassst::rt; docs/cpp_api.md).
#pragma once

#include "fassst/backend.h"
#include "fassst/errors.h"
#include "fassst/instances.h"
#include "fassst/metadata.h"
#include "fassst/segmenter.h"
#include "fassst/stream.h"
#include "fassst/tracker.h"
