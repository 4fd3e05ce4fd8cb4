/* fassst_rt C API: opaque handles and status codes over fassst::Segmenter,
 * for bindings from other languages (docs/cpp_api.md).
 *
 *   fassst_options opt;
 *   fassst_options_init(&opt);
 *   fassst_segmenter* seg = NULL;
 *   if (fassst_segmenter_create("engines/fassst_default.onnx", &opt, &seg) != FASSST_OK)
 *     fprintf(stderr, "%s\n", fassst_last_error());
 *   fassst_image img = {pixels, width, height, stride, FASSST_PIXEL_BGR};
 *   fassst_result* res = NULL;
 *   fassst_segmenter_run(seg, &img, &res);
 *   ... fassst_result_count(res), fassst_result_boxes(res) ...
 *   fassst_result_release(res);
 *   fassst_segmenter_destroy(seg);
 *
 * Every function returning fassst_status catches all C++ exceptions; on an
 * error the message is kept per thread and read with fassst_last_error().
 * Threads: a segmenter handle may be shared (calls are serialised); results
 * are independent and may be read from any thread. Pointers returned by
 * fassst_result_* stay valid until fassst_result_release.
 */
#ifndef FASSST_C_API_H_
#define FASSST_C_API_H_

#include <stddef.h>
#include <stdint.h>

#include "fassst/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fassst_status {
  FASSST_OK = 0,
  FASSST_ERROR_INVALID_ARGUMENT = 1, /* fassst::InvalidArgument, or a NULL handle */
  FASSST_ERROR_MODEL = 2,            /* fassst::ModelError: missing or inconsistent model files */
  FASSST_ERROR_METADATA = 3,         /* fassst::MetadataError */
  FASSST_ERROR_BACKEND = 4,          /* fassst::BackendError: ONNX Runtime / TensorRT failed */
  FASSST_ERROR_CUDA = 5,             /* fassst::CudaError */
  FASSST_ERROR_OUT_OF_MEMORY = 6,   /* std::bad_alloc, or fassst::MemoryBudgetExceeded: over memory_budget_mib */
  FASSST_ERROR_INTERNAL = 7          /* anything else */
} fassst_status;

typedef enum fassst_pixel_format {
  FASSST_PIXEL_BGR = 0,
  FASSST_PIXEL_RGB = 1,
  FASSST_PIXEL_BGRA = 2,
  FASSST_PIXEL_RGBA = 3,
  FASSST_PIXEL_GRAY8 = 4,
  FASSST_PIXEL_GRAY16 = 5
} fassst_pixel_format;

typedef struct fassst_segmenter fassst_segmenter; /* opaque */
typedef struct fassst_result fassst_result;       /* opaque */

typedef struct fassst_image {
  const void* data;
  int width;
  int height;
  int64_t stride; /* bytes between rows; 0: packed */
  fassst_pixel_format format;
} fassst_image;

typedef struct fassst_options {
  const char* backend;   /* "auto" or a backend name; NULL: "auto" */
  const char* device;    /* "auto", "cpu", "cuda"; NULL: "auto" */
  int num_threads;       /* 0..1024; 0: all cores */
  float score_threshold; /* in [0, 1]; < 0: the model's; NaN is refused */
  float nms_threshold;   /* in [0, 1]; < 0: the model's; NaN is refused */
  int max_instances;     /* < 0: the model's */
  int tiling;            /* -1: the model's, 0: off, 1: on with tile_size / tile_overlap */
  int tile_size;
  int tile_overlap;      /* -1: tile_size / 4 */
  int max_batch;         /* images per frame-graph call, 1..4096; 0: the default (16) */
  int memory_budget_mib; /* the working set a frame may take, 16..2^20 MiB; 0: the default (1024) */
} fassst_options;

/* Fills `options` with the defaults (everything from the model). */
FASSST_API void fassst_options_init(fassst_options* options);

/* Opens a model (NAME.onnx or NAME.plan); options may be NULL. */
FASSST_API fassst_status fassst_segmenter_create(const char* model_path, const fassst_options* options,
                                                 fassst_segmenter** out);
FASSST_API void fassst_segmenter_destroy(fassst_segmenter* segmenter); /* NULL is a no-op */

/* Segments one frame; *out is a new result to release. */
FASSST_API fassst_status fassst_segmenter_run(fassst_segmenter* segmenter, const fassst_image* image,
                                              fassst_result** out);

FASSST_API int fassst_segmenter_num_classes(const fassst_segmenter* segmenter);
FASSST_API const char* fassst_segmenter_class_name(const fassst_segmenter* segmenter, int label);

FASSST_API void fassst_result_release(fassst_result* result); /* NULL is a no-op */
FASSST_API size_t fassst_result_count(const fassst_result* result);
FASSST_API int fassst_result_image_width(const fassst_result* result);
FASSST_API int fassst_result_image_height(const fassst_result* result);
FASSST_API const float* fassst_result_boxes(const fassst_result* result);   /* count x 4 x1 y1 x2 y2 */
FASSST_API const float* fassst_result_scores(const fassst_result* result);  /* count */
FASSST_API const int64_t* fassst_result_labels(const fassst_result* result); /* count */
/* The class name of instance i (NULL when i is out of range). */
FASSST_API const char* fassst_result_class_name(const fassst_result* result, size_t i);
FASSST_API int fassst_result_mask_size(const fassst_result* result);        /* Sm */
FASSST_API const float* fassst_result_box_masks(const fassst_result* result); /* count x Sm x Sm */
FASSST_API const float* fassst_result_mask_boxes(const fassst_result* result); /* count x 4 */
/* Writes the full-frame mask of instance i (height x width bytes, 0/1) into
 * `out`, which holds `out_size` bytes. A NaN threshold is refused. */
FASSST_API fassst_status fassst_result_paste_mask(const fassst_result* result, size_t i, float threshold,
                                                  uint8_t* out, size_t out_size);
/* Milliseconds of a stage ("preprocess", "frame", "select", "rff_tail"), or
 * a negative number when the result has no such stage. */
FASSST_API double fassst_result_timing(const fassst_result* result, const char* stage);

/* The message of this thread's last failed call ("" when none). */
FASSST_API const char* fassst_last_error(void);
FASSST_API const char* fassst_status_string(fassst_status status);
FASSST_API const char* fassst_version(void);

#ifdef __cplusplus
}
#endif

#endif /* FASSST_C_API_H_ */
