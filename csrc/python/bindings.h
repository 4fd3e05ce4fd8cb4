// Registration functions of the pybind11 module, one per file.
#pragma once

#include <pybind11/pybind11.h>

namespace fassst {
namespace python {

void register_roi_cpu(pybind11::module_& m);
void register_pipeline(pybind11::module_& m);
void register_core(pybind11::module_& m);
void register_segmenter(pybind11::module_& m);
void register_stream(pybind11::module_& m);
void register_tracker(pybind11::module_& m);
// Defined only in builds with CUDA.
void register_cuda(pybind11::module_& m);

}  // namespace python
}  // namespace fassst
