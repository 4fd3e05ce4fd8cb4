// The per-frame pipeline of the C++ API. Every step with arithmetic is a core
// function the Python runtime calls too (letterbox, to_network_input, select,
// roi_fuse, sigmoid, boxes_to_frame, tiling); this file only orders them the
// way fassst_rt/segmenter.py does, so both give the same numbers.
#include "fassst/segmenter.h"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <utility>

#include "core/errors.h"
#include "core/input_mapping.h"
#include "core/letterbox.h"
#include "core/paste.h"
#include "core/select.h"
#include "core/tiling.h"

namespace fassst {
namespace {

constexpr uint8_t kPadValue = 114;

double ms_since(std::chrono::steady_clock::time_point t0, std::chrono::steady_clock::time_point t1) {
  return std::chrono::duration<double, std::milli>(t1 - t0).count();
}

int channels_of(PixelFormat f) {
  switch (f) {
    case PixelFormat::kBGR:
    case PixelFormat::kRGB: return 3;
    case PixelFormat::kBGRA:
    case PixelFormat::kRGBA: return 4;
    case PixelFormat::kGray8: return 1;
    case PixelFormat::kGray16: return 1;
  }
  throw InvalidArgument(message("image.format must be a PixelFormat, got ", static_cast<int>(f)));
}

int bytes_per_pixel(PixelFormat f) { return f == PixelFormat::kGray16 ? 2 : channels_of(f); }

// A frame as the pipeline sees it: height x width x 3 uint8 in the frame's
// own channel order (fassst_rt.input_mapping.frame_to_uint8_rgb_or_bgr).
// BGR/RGB frames are used in place (no copy); others are converted once.
struct Frame {
  const uint8_t* data = nullptr;
  int height = 0, width = 0;
  int64_t stride = 0;
  bool bgr = true;
  std::vector<uint8_t> storage;
};

Frame to_frame(const ImageView& image, const ModelMetadata& m, const std::string& name) {
  if (image.data == nullptr) throw InvalidArgument(message(name, ".data must not be null"));
  if (image.width < 1 || image.height < 1)
    throw InvalidArgument(message(name, " must be at least 1 x 1 pixels, got ", image.width, " x ", image.height));
  const int bpp = bytes_per_pixel(image.format);
  const int64_t packed = static_cast<int64_t>(image.width) * bpp;
  const int64_t stride = image.stride == 0 ? packed : image.stride;
  if (stride < packed)
    throw InvalidArgument(message(name, ".stride must be 0 (packed) or >= width * ", bpp, " = ", packed,
                                  " bytes, got ", image.stride));
  Frame f;
  f.height = image.height;
  f.width = image.width;
  const auto* src = static_cast<const uint8_t*>(image.data);
  if (image.format == PixelFormat::kBGR || image.format == PixelFormat::kRGB) {
    f.data = src;
    f.stride = stride;
    f.bgr = image.format == PixelFormat::kBGR;
    return f;
  }
  const int64_t n = static_cast<int64_t>(image.width) * image.height;
  f.storage.resize(static_cast<size_t>(n) * 3);
  f.stride = static_cast<int64_t>(image.width) * 3;
  f.bgr = image.format != PixelFormat::kRGBA;  // grey: either order gives the same pixels
  std::vector<uint8_t> grey;
  const uint8_t* grey_rows = nullptr;
  int64_t grey_stride = stride;
  if (image.format == PixelFormat::kGray16) {
    grey.resize(static_cast<size_t>(n));
    map_uint16_to_uint8(static_cast<const uint16_t*>(image.data), image.height, image.width, stride, m.uint16,
                        grey.data());
    grey_rows = grey.data();
    grey_stride = image.width;
  } else if (image.format == PixelFormat::kGray8) {
    grey_rows = src;
  }
  for (int y = 0; y < image.height; ++y) {
    uint8_t* out = f.storage.data() + y * f.stride;
    if (grey_rows != nullptr) {
      const uint8_t* row = grey_rows + y * grey_stride;
      for (int x = 0; x < image.width; ++x) out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = row[x];
    } else {  // 4 channels: alpha dropped
      const uint8_t* row = src + y * stride;
      for (int x = 0; x < image.width; ++x)
        for (int c = 0; c < 3; ++c) out[3 * x + c] = row[4 * x + c];
    }
  }
  f.data = f.storage.data();
  return f;
}

// A region of a frame (a tile, or the whole frame).
struct Crop {
  const uint8_t* data;
  int height, width;
  int64_t stride;
  bool bgr;
};

}  // namespace

// ---------------------------------------------------------------- Segmenter

struct Segmenter::Impl {
  std::unique_ptr<Backend> backend;
  ModelMetadata meta;
  float score_threshold = 0.3f;
  float nms_threshold = 0.5f;
  int max_instances = 0;
  int tile_size = 0;  // 0: no tiling
  int tile_overlap = 0;
  int num_threads = 0;
  std::mutex mutex;

  void configure(const SegmenterOptions& o) {
    meta = backend->metadata();
    score_threshold = o.score_threshold ? *o.score_threshold : meta.score_threshold;
    nms_threshold = o.nms_threshold ? *o.nms_threshold : meta.nms_threshold;
    max_instances = o.max_instances ? *o.max_instances : meta.max_instances;
    if (!(score_threshold >= 0.0f && score_threshold <= 1.0f))
      throw InvalidArgument(message("score_threshold must be in [0, 1], got ", score_threshold));
    if (!(nms_threshold >= 0.0f && nms_threshold <= 1.0f))
      throw InvalidArgument(message("nms_threshold must be in [0, 1], got ", nms_threshold));
    if (max_instances < 0) throw InvalidArgument(message("max_instances must be >= 0, got ", max_instances));
    num_threads = o.num_threads;
    switch (o.tiling) {
      case Tiling::kModelDefault:
        if (meta.has_tile) {
          tile_size = meta.tile_size;
          tile_overlap = meta.tile_overlap;
        }
        break;
      case Tiling::kOff: break;
      case Tiling::kOn:
        tile_size = o.tile_size;
        tile_overlap = o.tile_overlap == -1 ? o.tile_size / 4 : o.tile_overlap;
        break;
    }
    if (tile_size != 0 && (tile_size < 32 || tile_overlap < 0 || tile_overlap >= tile_size))
      throw InvalidArgument(message("tile size must be an int >= 32 and 0 <= overlap < size, got size ", tile_size,
                                    " overlap ", tile_overlap));
  }

  void check_frame_outputs(const FrameOutputs& out, int64_t batch) const {
    const int64_t n = meta.num_cells(), c = meta.num_classes();
    auto expect = [&](const char* name, const Tensor& t, std::vector<int64_t> want) {
      if (t.shape != want || t.data == nullptr)
        throw ModelError(message(meta.source, ": the frame graph's '", name, "' has shape ", shape_text(t.shape),
                                 ", but the metadata says ", shape_text(want)));
    };
    expect("boxes", out.boxes, {batch, n, 4});
    expect("scores", out.scores, {batch, n, c});
    if (out.boxes.on_device || out.scores.on_device)
      throw BackendError(message(backend->name(), ": boxes and scores must be host tensors"));
    if (out.p1.shape.size() != 4 || out.p1.shape[1] != meta.mask_channels)
      throw ModelError(message(meta.source, ": p1 has shape ", shape_text(out.p1.shape),
                               ", the metadata says mask_channels = ", meta.mask_channels));
  }

  static std::string shape_text(const std::vector<int64_t>& s) {
    std::string out = "(";
    for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + ")";
  }

  // fassst_rt.Segmenter._segment: one frame-graph call for all crops, one
  // tail call for all their selected instances.
  std::vector<Instances> segment(const std::vector<Crop>& crops, bool force_tail = false) {
    using clock = std::chrono::steady_clock;
    const int size = meta.input_size;
    const int64_t batch = static_cast<int64_t>(crops.size());
    const int64_t plane = static_cast<int64_t>(size) * size;
    const auto t0 = clock::now();
    std::vector<LetterboxGeometry> geometry;
    std::vector<float> input(static_cast<size_t>(batch * 3 * plane));
    std::vector<uint8_t> canvas(static_cast<size_t>(plane * 3));
    for (int64_t b = 0; b < batch; ++b) {
      const Crop& c = crops[b];
      geometry.push_back(letterbox_geometry(c.height, c.width, size));
      letterbox(c.data, c.height, c.width, c.stride, 3, size, kPadValue, canvas.data(), num_threads);
      // swap the channels when the frame's order differs from the model's
      const bool swap = c.bgr != (meta.channel_order == "bgr");
      to_network_input(canvas.data(), size, size, meta.mean.data(), meta.std.data(), swap,
                       input.data() + b * 3 * plane);
    }
    const auto t1 = clock::now();
    const FrameOutputs frame = backend->run_frame(input.data(), batch);
    check_frame_outputs(frame, batch);
    const auto t2 = clock::now();
    const int64_t n = meta.num_cells(), classes = meta.num_classes();
    std::vector<Selection> selections;
    std::vector<float> rois;  // (K, 5) batch_index, x1, y1, x2, y2 in network-input pixels
    SelectParams params{score_threshold, nms_threshold, max_instances};
    for (int64_t b = 0; b < batch; ++b) {
      const float* boxes = frame.boxes.data + b * n * 4;
      selections.push_back(select_instances(boxes, frame.scores.data + b * n * classes, n, classes, params));
      for (int64_t cell : selections.back().cells) {
        rois.push_back(static_cast<float>(b));
        rois.insert(rois.end(), boxes + cell * 4, boxes + cell * 4 + 4);
      }
    }
    const auto t3 = clock::now();
    int64_t k = static_cast<int64_t>(rois.size() / 5);
    const int sm = 2 * meta.roi_size;
    const int64_t mask_area = static_cast<int64_t>(sm) * sm;
    std::vector<float> box_masks;
    if (force_tail && k == 0) {  // warm-up: exercise the tail with one box
      const float s = static_cast<float>(size);
      rois = {0.0f, 0.0f, 0.0f, s / 2, s / 2};
      k = 1;
    }
    if (k > 0) {
      box_masks.resize(static_cast<size_t>(k * mask_area));
      backend->fuse_and_tail(frame, rois.data(), k, box_masks.data());  // (K, 1, Sm, Sm) logits
      sigmoid_inplace(box_masks.data(), k * mask_area);
    }
    const auto t4 = clock::now();
    std::map<std::string, double> timings{{"preprocess", ms_since(t0, t1)},
                                          {"frame", ms_since(t1, t2)},
                                          {"select", ms_since(t2, t3)},
                                          {"rff_tail", ms_since(t3, t4)}};

    std::vector<Instances> results;
    int64_t start = 0;
    for (int64_t b = 0; b < batch; ++b) {
      const Selection& s = selections[b];
      const int64_t kb = static_cast<int64_t>(s.cells.size());
      Instances inst;
      inst.image_height = crops[b].height;
      inst.image_width = crops[b].width;
      inst.names = meta.class_names;
      inst.mask_size = sm;
      inst.scores = s.scores;
      inst.labels = s.labels;
      for (int64_t i = 0; i < kb; ++i) {
        const float* r = rois.data() + (start + i) * 5 + 1;
        inst.boxes.insert(inst.boxes.end(), r, r + 4);
      }
      inst.mask_boxes = inst.boxes;
      boxes_to_frame(inst.boxes.data(), kb, geometry[b], inst.image_height, inst.image_width, true);
      boxes_to_frame(inst.mask_boxes.data(), kb, geometry[b], inst.image_height, inst.image_width, false);
      if (kb > 0)
        inst.box_masks.assign(box_masks.begin() + start * mask_area, box_masks.begin() + (start + kb) * mask_area);
      inst.timings = timings;
      results.push_back(std::move(inst));
      start += kb;
    }
    return results;
  }

  // fassst_rt.Segmenter._run_tiled.
  Instances run_tiled(const Frame& f) {
    const std::vector<Tile> tiles = tile_grid(f.height, f.width, tile_size, tile_overlap);
    std::vector<Crop> crops;
    for (const Tile& t : tiles)
      crops.push_back(Crop{f.data + t.y0 * f.stride + t.x0 * 3, t.y1 - t.y0, t.x1 - t.x0, f.stride, f.bgr});
    const std::vector<Instances> per_tile = segment(crops);
    Instances merged;
    merged.image_height = f.height;
    merged.image_width = f.width;
    merged.names = meta.class_names;
    merged.mask_size = 2 * meta.roi_size;
    const size_t mask_area = static_cast<size_t>(merged.mask_size) * merged.mask_size;
    for (size_t ti = 0; ti < tiles.size(); ++ti) {
      const Tile& t = tiles[ti];
      const Instances& inst = per_tile[ti];
      const float offset[4] = {static_cast<float>(t.x0), static_cast<float>(t.y0), static_cast<float>(t.x0),
                               static_cast<float>(t.y0)};
      for (size_t i = 0; i < inst.size(); ++i) {
        float box[4], mask_box[4];
        for (int j = 0; j < 4; ++j) {
          box[j] = inst.boxes[i * 4 + j] + offset[j];
          mask_box[j] = inst.mask_boxes[i * 4 + j] + offset[j];
        }
        if (!in_core(box, t)) continue;
        merged.boxes.insert(merged.boxes.end(), box, box + 4);
        merged.mask_boxes.insert(merged.mask_boxes.end(), mask_box, mask_box + 4);
        merged.scores.push_back(inst.scores[i]);
        merged.labels.push_back(inst.labels[i]);
        merged.box_masks.insert(merged.box_masks.end(), inst.box_masks.begin() + i * mask_area,
                                inst.box_masks.begin() + (i + 1) * mask_area);
      }
    }
    // Objects seen by two tiles whose centres fell in both cores: one NMS
    // pass over everything, with the selection's own NMS.
    const std::vector<int64_t> kept =
        cross_tile_nms(merged.boxes.data(), merged.labels.data(), merged.scores.data(),
                       static_cast<int64_t>(merged.size()), meta.num_classes(), nms_threshold);
    Instances out;
    out.image_height = merged.image_height;
    out.image_width = merged.image_width;
    out.names = merged.names;
    out.mask_size = merged.mask_size;
    for (int64_t i : kept) {
      out.boxes.insert(out.boxes.end(), merged.boxes.begin() + i * 4, merged.boxes.begin() + (i + 1) * 4);
      out.mask_boxes.insert(out.mask_boxes.end(), merged.mask_boxes.begin() + i * 4,
                            merged.mask_boxes.begin() + (i + 1) * 4);
      out.scores.push_back(merged.scores[i]);
      out.labels.push_back(merged.labels[i]);
      out.box_masks.insert(out.box_masks.end(), merged.box_masks.begin() + i * mask_area,
                           merged.box_masks.begin() + (i + 1) * mask_area);
    }
    out.timings = per_tile.front().timings;  // the tiles ran as one batch
    out.timings["tiles"] = static_cast<double>(tiles.size());
    return out;
  }
};

Segmenter::Segmenter(const std::string& model_path, const SegmenterOptions& options) : impl_(new Impl) {
  BackendOptions bo;
  bo.device = options.device;
  bo.num_threads = options.num_threads;
  if (options.num_threads < 0)
    throw InvalidArgument(message("num_threads must be >= 0 (0: all cores), got ", options.num_threads));
  impl_->backend = open_backend(model_path, options.backend, bo);
  impl_->configure(options);
}

Segmenter::Segmenter(std::unique_ptr<Backend> backend, const SegmenterOptions& options) : impl_(new Impl) {
  if (!backend) throw InvalidArgument("Segmenter: backend must not be null");
  impl_->backend = std::move(backend);
  impl_->configure(options);
}

Segmenter::~Segmenter() = default;
Segmenter::Segmenter(Segmenter&&) noexcept = default;
Segmenter& Segmenter::operator=(Segmenter&&) noexcept = default;

Instances Segmenter::run(const ImageView& image) {
  if (!impl_) throw InvalidArgument("Segmenter: used after being moved from");
  const Frame f = to_frame(image, impl_->meta, "image");
  std::lock_guard<std::mutex> lock(impl_->mutex);
  if (impl_->tile_size > 0 && (f.height > impl_->tile_size || f.width > impl_->tile_size))
    return impl_->run_tiled(f);
  return impl_->segment({Crop{f.data, f.height, f.width, f.stride, f.bgr}}).front();
}

std::vector<Instances> Segmenter::run_batch(const std::vector<ImageView>& images) {
  if (!impl_) throw InvalidArgument("Segmenter: used after being moved from");
  std::vector<Frame> frames;
  for (size_t i = 0; i < images.size(); ++i)
    frames.push_back(to_frame(images[i], impl_->meta, "images[" + std::to_string(i) + "]"));
  if (frames.empty()) return {};
  std::vector<Crop> crops;
  for (const Frame& f : frames) crops.push_back(Crop{f.data, f.height, f.width, f.stride, f.bgr});
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->segment(crops);
}

void Segmenter::warmup(int runs) {
  const int s = impl_->meta.input_size;
  std::vector<uint8_t> grey(static_cast<size_t>(s) * s * 3, kPadValue);
  std::lock_guard<std::mutex> lock(impl_->mutex);
  for (int i = 0; i < runs; ++i) impl_->segment({Crop{grey.data(), s, s, int64_t{s} * 3, true}}, true);
}

const ModelMetadata& Segmenter::metadata() const { return impl_->meta; }
const std::vector<std::string>& Segmenter::class_names() const { return impl_->meta.class_names; }
float Segmenter::score_threshold() const { return impl_->score_threshold; }
float Segmenter::nms_threshold() const { return impl_->nms_threshold; }
int Segmenter::max_instances() const { return impl_->max_instances; }
int Segmenter::tile_size() const { return impl_->tile_size; }
int Segmenter::tile_overlap() const { return impl_->tile_size ? impl_->tile_overlap : 0; }
std::string Segmenter::backend_name() const { return impl_->backend->name(); }

const char* version() { return FASSST_RT_VERSION; }

}  // namespace fassst
