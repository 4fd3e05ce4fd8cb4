// The "pipeline" surface of the fuzz corpus: fassst::Segmenter over a test
// backend whose graph outputs the corpus item chooses (valid, or hostile:
// NaN or huge boxes, wrong shapes, NULL or device pyramids, a failing tail).
#pragma once

#include "fuzz_driver.h"

namespace fuzz {

void pipeline_item(const Value& item);

}  // namespace fuzz
