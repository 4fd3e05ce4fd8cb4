// The exceptions fassst_rt throws, C++ core and C++ API alike. Everything
// derives from fassst::Error (a std::runtime_error); messages name the file or
// argument, what was expected and what came. The C API turns each class into
// a status code (fassst/c_api.h); the Python bindings map InvalidArgument to
// ValueError, MemoryBudgetExceeded to MemoryError and the rest to
// RuntimeError.
#pragma once

#include <stdexcept>

#include "fassst/export.h"

namespace fassst {

// Base of every error fassst_rt throws.
class FASSST_API Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A caller passed something the operation does not accept (shape, value,
// option).
class FASSST_API InvalidArgument : public Error {
 public:
  using Error::Error;
};

// A model file is missing, unreadable, or inconsistent with its metadata or
// with the other files of the model (docs/model_files.md).
class FASSST_API ModelError : public Error {
 public:
  using Error::Error;
};

// The metadata document of a model is missing, malformed or inconsistent
// (a kind of ModelError).
class FASSST_API MetadataError : public ModelError {
 public:
  using ModelError::ModelError;
};

// A backend (ONNX Runtime, TensorRT, an application's own) failed while
// running a graph.
class FASSST_API BackendError : public Error {
 public:
  using Error::Error;
};

// A frame, or what it makes the pipeline hold, would exceed the Segmenter's
// memory budget (SegmenterOptions::memory_budget_mib); thrown before the
// allocation it refuses. Python: MemoryError; C API: FASSST_ERROR_OUT_OF_MEMORY.
class FASSST_API MemoryBudgetExceeded : public Error {
 public:
  using Error::Error;
};

// A CUDA call failed or no usable GPU exists.
class FASSST_API CudaError : public Error {
 public:
  using Error::Error;
};

}  // namespace fassst
