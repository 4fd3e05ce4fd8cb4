// The extension module fassst_rt._C: glue only, no arithmetic.
#include <pybind11/pybind11.h>

#include "core/errors.h"
#include "python/bindings.h"

namespace py = pybind11;

#ifndef FASSST_CUDA_ARCHITECTURES
#define FASSST_CUDA_ARCHITECTURES ""
#endif

PYBIND11_MODULE(_C, m) {
  m.doc() = "fassst_rt native core (kernels and pipeline pieces)";
  // The core's model errors as Python exceptions (ValueError subclasses);
  // fassst_rt re-exports them as fassst_rt.ModelError and MetadataError.
  // Created once and kept for the life of the interpreter.
  static PyObject* model_error = PyErr_NewExceptionWithDoc(
      "fassst_rt._C.ModelError", "A model file is missing, unreadable, or inconsistent with its metadata.",
      PyExc_ValueError, nullptr);
  static PyObject* metadata_error = PyErr_NewExceptionWithDoc(
      "fassst_rt._C.MetadataError", "The metadata of a model file is missing, malformed or inconsistent.",
      model_error, nullptr);
  m.attr("ModelError") = py::handle(model_error);
  m.attr("MetadataError") = py::handle(metadata_error);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const fassst::InvalidArgument& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const fassst::MetadataError& e) {
      PyErr_SetString(metadata_error, e.what());
    } catch (const fassst::ModelError& e) {
      PyErr_SetString(model_error, e.what());
    } catch (const fassst::MemoryBudgetExceeded& e) {
      PyErr_SetString(PyExc_MemoryError, e.what());
    } catch (const fassst::Error& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
  });
#ifdef FASSST_WITH_CUDA
  m.attr("with_cuda") = true;
#else
  m.attr("with_cuda") = false;
#endif
  m.attr("cuda_architectures") = FASSST_CUDA_ARCHITECTURES;
  fassst::python::register_roi_cpu(m);
  fassst::python::register_pipeline(m);
  fassst::python::register_core(m);
  fassst::python::register_segmenter(m);
  fassst::python::register_stream(m);
  fassst::python::register_tracker(m);
#ifdef FASSST_WITH_CUDA
  fassst::python::register_cuda(m);
#endif
}
