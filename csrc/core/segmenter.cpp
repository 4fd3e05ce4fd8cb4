// The per-frame pipeline, the one both languages run: fassst_rt.Segmenter
// (Python) binds this class, with its Python backends plugged in through the
// Backend interface. Every step with arithmetic is a core function (letterbox,
// to_network_input, select, roi_fuse, sigmoid, boxes_to_frame, tiling); the
// Impl (core/segmenter_impl.h) orders them, splits work into calls the
// backend accepts and merges tiles.
#include "fassst/segmenter.h"

#include "core/segmenter_impl.h"
#include "core/thread_count.h"

namespace fassst {

Segmenter::Segmenter(const std::string& model_path, const SegmenterOptions& options) : impl_(new Impl) {
  BackendOptions bo;
  bo.device = options.device;
  // Checked before the backend starts that many threads of its own.
  bo.num_threads = checked_num_threads("num_threads", options.num_threads);
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

Segmenter::Impl& Segmenter::checked() const {
  if (!impl_) throw InvalidArgument("Segmenter: used after being moved from");
  return *impl_;
}

Instances Segmenter::run(const ImageView& image) { return run(image, TileSpec{}); }

Instances Segmenter::run(const ImageView& image, const TileSpec& tile) {
  Impl& impl = checked();
  int size = impl.tile_size, overlap = impl.tile_overlap;
  if (tile.tiling != Tiling::kModelDefault) impl.resolve_tiling(tile, &size, &overlap);
  const int64_t copy_bytes = frame_copy_bytes(image);
  impl.memory.check_frames(message("image: a ", image.width, " x ", image.height, " frame"), copy_bytes);
  const Frame3 f = to_three_channels(image, impl.meta.uint16, "image");
  return impl.run(f, size, overlap, copy_bytes);
}

std::vector<Instances> Segmenter::run_batch(const std::vector<ImageView>& images) {
  Impl& impl = checked();
  // the frames' copies are all held while the batch runs
  int64_t copy_bytes = 0;
  for (const ImageView& image : images) copy_bytes += frame_copy_bytes(image);
  impl.memory.check_frames(message("images: a batch of ", images.size(), " frames"), copy_bytes);
  std::vector<Frame3> frames;
  for (size_t i = 0; i < images.size(); ++i)
    frames.push_back(to_three_channels(images[i], impl.meta.uint16, "images[" + std::to_string(i) + "]"));
  if (frames.empty()) return {};
  std::vector<Crop> crops;
  for (const Frame3& f : frames) crops.push_back(whole(f));
  std::lock_guard<std::mutex> lock(impl.mutex);
  impl.require_idle();
  Timings total;
  return impl.segment(crops, &total, false, copy_bytes);
}

void Segmenter::warmup(int runs) {
  Impl& impl = checked();
  if (runs < 0 || runs > 1000) throw InvalidArgument(message("runs must be in [0, 1000], got ", runs));
  const int s = impl.meta.input_size;
  std::vector<uint8_t> grey(static_cast<size_t>(s) * s * 3, kPadValue);
  std::lock_guard<std::mutex> lock(impl.mutex);
  impl.require_idle();
  for (int i = 0; i < runs; ++i) {
    Timings timings;
    impl.segment({Crop{grey.data(), s, s, int64_t{s} * 3, true}}, &timings, true);
  }
}

NetworkInput Segmenter::preprocess(const std::vector<ImageView>& images) const {
  const Impl& impl = checked();
  return preprocess_frames(images, impl.meta, impl.num_threads);
}

NetworkInput preprocess_frames(const std::vector<ImageView>& images, const ModelMetadata& meta, int num_threads) {
  std::vector<Frame3> frames;
  for (size_t i = 0; i < images.size(); ++i)
    frames.push_back(to_three_channels(images[i], meta.uint16, "images[" + std::to_string(i) + "]"));
  std::vector<Crop> crops;
  for (const Frame3& f : frames) crops.push_back(whole(f));
  return network_input(crops, meta, num_threads);
}

Selections Segmenter::select(const FrameOutputs& frame, int64_t batch) const {
  const Impl& impl = checked();
  impl.require_open();
  if (batch < 0) throw InvalidArgument(message("batch must be >= 0, got ", batch));
  // a stride-grid model's cell count follows its input: the frame graph's boxes say it
  const bool sized = impl.meta.stride_grid && frame.boxes.shape.size() == 3;
  return impl.select(frame, batch, sized ? frame.boxes.shape[1] : impl.meta.num_cells());
}

void Segmenter::set_score_threshold(float value) {
  Impl& impl = checked();
  const float v = Impl::checked_threshold("score_threshold", value);
  std::lock_guard<std::mutex> lock(impl.mutex);
  impl.score_threshold = v;
}

void Segmenter::set_nms_threshold(float value) {
  Impl& impl = checked();
  const float v = Impl::checked_threshold("nms_threshold", value);
  std::lock_guard<std::mutex> lock(impl.mutex);
  impl.nms_threshold = v;
}

void Segmenter::set_max_instances(int value) {
  Impl& impl = checked();
  const int v = Impl::checked_max_instances(value);
  std::lock_guard<std::mutex> lock(impl.mutex);
  impl.max_instances = v;
}

void Segmenter::close() {
  if (!impl_) return;
  std::lock_guard<std::mutex> lock(impl_->mutex);
  if (impl_->streaming) throw InvalidArgument("Segmenter: close() while a Stream runs on it; stop the Stream first");
  impl_->backend.reset();
}

const ModelMetadata& Segmenter::metadata() const { return checked().meta; }
const std::vector<std::string>& Segmenter::class_names() const { return checked().meta.class_names; }
float Segmenter::score_threshold() const { return checked().score_threshold; }
float Segmenter::nms_threshold() const { return checked().nms_threshold; }
int Segmenter::max_instances() const { return checked().max_instances; }
int Segmenter::tile_size() const { return checked().tile_size; }
int Segmenter::tile_overlap() const { return impl_ && impl_->tile_size ? impl_->tile_overlap : 0; }
int Segmenter::max_batch() const { return checked().max_batch; }
int Segmenter::memory_budget_mib() const {
  return static_cast<int>(checked().memory.budget_bytes() >> 20);
}
std::string Segmenter::backend_name() const {
  const Impl& impl = checked();
  impl.require_open();
  return impl.backend->name();
}

const char* version() { return FASSST_RT_VERSION; }

}  // namespace fassst
