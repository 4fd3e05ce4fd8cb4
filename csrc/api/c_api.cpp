// The C API over fassst::Segmenter: every entry point catches every C++
// exception and turns it into a status code plus a per-thread message.
#include "fassst/c_api.h"

#include <cmath>
#include <cstring>
#include <new>
#include <optional>
#include <string>

#include "fassst/fassst.h"

struct fassst_segmenter {
  fassst::Segmenter segmenter;
};

struct fassst_result {
  fassst::Instances instances;
};

namespace {

thread_local std::string g_last_error;

fassst_status fail(fassst_status status, const char* what) {
  g_last_error = what ? what : "";
  return status;
}

// Runs `body`, mapping the exception hierarchy of fassst/errors.h to codes
// (most derived first).
template <typename Body>
fassst_status guarded(Body&& body) {
  try {
    body();
    g_last_error.clear();
    return FASSST_OK;
  } catch (const fassst::InvalidArgument& e) {
    return fail(FASSST_ERROR_INVALID_ARGUMENT, e.what());
  } catch (const fassst::MetadataError& e) {
    return fail(FASSST_ERROR_METADATA, e.what());
  } catch (const fassst::ModelError& e) {
    return fail(FASSST_ERROR_MODEL, e.what());
  } catch (const fassst::BackendError& e) {
    return fail(FASSST_ERROR_BACKEND, e.what());
  } catch (const fassst::CudaError& e) {
    return fail(FASSST_ERROR_CUDA, e.what());
  } catch (const fassst::MemoryBudgetExceeded& e) {
    return fail(FASSST_ERROR_OUT_OF_MEMORY, e.what());
  } catch (const std::bad_alloc&) {
    return fail(FASSST_ERROR_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return fail(FASSST_ERROR_INTERNAL, e.what());
  } catch (...) {
    return fail(FASSST_ERROR_INTERNAL, "unknown C++ exception");
  }
}

// An options threshold: < 0 means the model's (unset), NaN is refused rather
// than read as "unset" (every comparison with it is false).
std::optional<float> option_threshold(const char* name, float value) {
  if (std::isnan(value))
    throw fassst::InvalidArgument(std::string("options->") + name +
                                  " must be a number in [0, 1], or < 0 for the model's, got nan");
  if (value < 0.0f) return std::nullopt;
  return value;
}

// The caller's format field read as the integer it holds: a C caller may
// store any int there, and loading an out-of-range value as the enum type
// would be undefined behaviour.
fassst::PixelFormat pixel_format(const fassst_pixel_format* field) {
  static_assert(sizeof(fassst_pixel_format) == sizeof(int), "C enums are int-sized here");
  int raw = 0;
  std::memcpy(&raw, field, sizeof raw);
  switch (raw) {
    case FASSST_PIXEL_BGR: return fassst::PixelFormat::kBGR;
    case FASSST_PIXEL_RGB: return fassst::PixelFormat::kRGB;
    case FASSST_PIXEL_BGRA: return fassst::PixelFormat::kBGRA;
    case FASSST_PIXEL_RGBA: return fassst::PixelFormat::kRGBA;
    case FASSST_PIXEL_GRAY8: return fassst::PixelFormat::kGray8;
    case FASSST_PIXEL_GRAY16: return fassst::PixelFormat::kGray16;
    default: break;
  }
  throw fassst::InvalidArgument("image->format must be a fassst_pixel_format (0 to 5), got " + std::to_string(raw));
}

}  // namespace

extern "C" {

void fassst_options_init(fassst_options* o) {
  if (!o) return;
  o->backend = "auto";
  o->device = "auto";
  o->num_threads = 0;
  o->score_threshold = -1.0f;
  o->nms_threshold = -1.0f;
  o->max_instances = -1;
  o->tiling = -1;
  o->tile_size = 0;
  o->tile_overlap = -1;
  o->max_batch = 0;
  o->memory_budget_mib = 0;
}

fassst_status fassst_segmenter_create(const char* model_path, const fassst_options* options,
                                      fassst_segmenter** out) {
  return guarded([&] {
    if (!out) throw fassst::InvalidArgument("out must not be NULL");
    *out = nullptr;
    if (!model_path) throw fassst::InvalidArgument("model_path must not be NULL");
    fassst_options o;
    fassst_options_init(&o);
    if (options) o = *options;
    fassst::SegmenterOptions so;
    so.backend = o.backend ? o.backend : "auto";
    so.device = o.device ? o.device : "auto";
    so.num_threads = o.num_threads;
    so.score_threshold = option_threshold("score_threshold", o.score_threshold);
    so.nms_threshold = option_threshold("nms_threshold", o.nms_threshold);
    if (o.max_instances >= 0) so.max_instances = o.max_instances;
    if (o.tiling < -1 || o.tiling > 1)
      throw fassst::InvalidArgument("options->tiling must be -1 (model default), 0 (off) or 1 (on), got " +
                                    std::to_string(o.tiling));
    so.tiling = o.tiling == -1 ? fassst::Tiling::kModelDefault : o.tiling == 0 ? fassst::Tiling::kOff
                                                                               : fassst::Tiling::kOn;
    so.tile_size = o.tile_size;
    so.tile_overlap = o.tile_overlap;
    if (o.max_batch != 0) so.max_batch = o.max_batch;
    if (o.memory_budget_mib != 0) so.memory_budget_mib = o.memory_budget_mib;
    *out = new fassst_segmenter{fassst::Segmenter(model_path, so)};
  });
}

void fassst_segmenter_destroy(fassst_segmenter* s) { delete s; }

fassst_status fassst_segmenter_run(fassst_segmenter* s, const fassst_image* image, fassst_result** out) {
  return guarded([&] {
    if (!out) throw fassst::InvalidArgument("out must not be NULL");
    *out = nullptr;
    if (!s) throw fassst::InvalidArgument("segmenter must not be NULL");
    if (!image) throw fassst::InvalidArgument("image must not be NULL");
    fassst::ImageView view;
    view.data = image->data;
    view.width = image->width;
    view.height = image->height;
    view.stride = image->stride;
    view.format = pixel_format(&image->format);
    *out = new fassst_result{s->segmenter.run(view)};
  });
}

int fassst_segmenter_num_classes(const fassst_segmenter* s) {
  return s ? static_cast<int>(s->segmenter.class_names().size()) : 0;
}

const char* fassst_segmenter_class_name(const fassst_segmenter* s, int label) {
  if (!s || label < 0 || label >= static_cast<int>(s->segmenter.class_names().size())) return nullptr;
  return s->segmenter.class_names()[label].c_str();
}

void fassst_result_release(fassst_result* r) { delete r; }
size_t fassst_result_count(const fassst_result* r) { return r ? r->instances.size() : 0; }
int fassst_result_image_width(const fassst_result* r) { return r ? r->instances.image_width : 0; }
int fassst_result_image_height(const fassst_result* r) { return r ? r->instances.image_height : 0; }
const float* fassst_result_boxes(const fassst_result* r) { return r ? r->instances.boxes.data() : nullptr; }
const float* fassst_result_scores(const fassst_result* r) { return r ? r->instances.scores.data() : nullptr; }
const int64_t* fassst_result_labels(const fassst_result* r) { return r ? r->instances.labels.data() : nullptr; }
int fassst_result_mask_size(const fassst_result* r) { return r ? r->instances.mask_size : 0; }
const float* fassst_result_box_masks(const fassst_result* r) { return r ? r->instances.box_masks.data() : nullptr; }
const float* fassst_result_mask_boxes(const fassst_result* r) { return r ? r->instances.mask_boxes.data() : nullptr; }

const char* fassst_result_class_name(const fassst_result* r, size_t i) {
  if (!r || i >= r->instances.size()) return nullptr;
  const int64_t label = r->instances.labels[i];
  if (label < 0 || label >= static_cast<int64_t>(r->instances.names.size())) return nullptr;
  return r->instances.names[static_cast<size_t>(label)].c_str();
}

fassst_status fassst_result_paste_mask(const fassst_result* r, size_t i, float threshold, uint8_t* out,
                                       size_t out_size) {
  return guarded([&] {
    if (!r) throw fassst::InvalidArgument("result must not be NULL");
    if (!out) throw fassst::InvalidArgument("out must not be NULL");
    if (std::isnan(threshold)) throw fassst::InvalidArgument("threshold must be a number, got nan");
    const size_t need = static_cast<size_t>(r->instances.image_height) * r->instances.image_width;
    if (out_size < need)
      throw fassst::InvalidArgument("out_size must be >= height * width = " + std::to_string(need) + " bytes, got " +
                                    std::to_string(out_size));
    r->instances.paste_mask(i, out, threshold);
  });
}

double fassst_result_timing(const fassst_result* r, const char* stage) {
  if (!r || !stage) return -1.0;
  auto it = r->instances.timings.find(stage);
  return it == r->instances.timings.end() ? -1.0 : it->second;
}

const char* fassst_last_error(void) { return g_last_error.c_str(); }

const char* fassst_status_string(fassst_status status) {
  switch (status) {
    case FASSST_OK: return "ok";
    case FASSST_ERROR_INVALID_ARGUMENT: return "invalid argument";
    case FASSST_ERROR_MODEL: return "model error";
    case FASSST_ERROR_METADATA: return "metadata error";
    case FASSST_ERROR_BACKEND: return "backend error";
    case FASSST_ERROR_CUDA: return "CUDA error";
    case FASSST_ERROR_OUT_OF_MEMORY: return "out of memory";
    case FASSST_ERROR_INTERNAL: return "internal error";
  }
  return "unknown status";
}

const char* fassst_version(void) { return fassst::version(); }

}  // extern "C"
