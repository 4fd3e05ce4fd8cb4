// The public C++ API with real models through the ONNX Runtime backend: the
// shipped model (engines/fassst_default.onnx) and the tiny random-weight test
// model (tests/data/tiny). Only public headers, as an application uses them.
// Equality with the Python runtime is checked by tests/test_cpp_api.py.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <thread>

#include "check.h"
#include "fassst/fassst.h"

using namespace fassst;

namespace {

// Bright discs on a dark, slightly textured background: nucleus-like blobs.
std::vector<uint8_t> disc_frame(int height, int width, int channels, int stride_pad = 0) {
  const int stride = width * channels + stride_pad;
  std::vector<uint8_t> img(static_cast<size_t>(height) * stride, 0);
  const int centres[4][3] = {{40, 50, 14}, {120, 90, 18}, {200, 60, 12}, {260, 150, 16}};
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      int v = 20 + (x * 7 + y * 13) % 11;
      for (const auto& c : centres) {
        const int dx = x - c[0], dy = y - c[1];
        if (dx * dx + dy * dy <= c[2] * c[2]) v = 200 - (dx * dx + dy * dy) / 4;
      }
      for (int ch = 0; ch < channels; ++ch) img[static_cast<size_t>(y) * stride + x * channels + ch] = static_cast<uint8_t>(v);
    }
  return img;
}

ImageView view(const std::vector<uint8_t>& img, int height, int width, PixelFormat f, int64_t stride = 0) {
  ImageView v;
  v.data = img.data();
  v.height = height;
  v.width = width;
  v.stride = stride;
  v.format = f;
  return v;
}

bool same(const Instances& a, const Instances& b) {
  return a.boxes == b.boxes && a.scores == b.scores && a.labels == b.labels && a.box_masks == b.box_masks &&
         a.mask_boxes == b.mask_boxes && a.image_height == b.image_height && a.image_width == b.image_width;
}

// An application's own backend: wraps the ONNX Runtime one and counts tail calls.
class CountingBackend : public Backend {
 public:
  explicit CountingBackend(std::unique_ptr<Backend> inner) : inner_(std::move(inner)) {}
  std::string name() const override { return "counting"; }
  const ModelMetadata& metadata() const override { return inner_->metadata(); }
  FrameOutputs run_frame(const float* images, int64_t batch) override { return inner_->run_frame(images, batch); }
  void run_tail(const float* features, int64_t count, float* logits) override {
    ++tail_calls;
    last_count = count;
    inner_->run_tail(features, count, logits);
  }
  static std::atomic<int> tail_calls;
  static std::atomic<int64_t> last_count;

 private:
  std::unique_ptr<Backend> inner_;
};
std::atomic<int> CountingBackend::tail_calls{0};
std::atomic<int64_t> CountingBackend::last_count{0};

// An application backend that serves a model under edited metadata (here: a
// model without a 16-bit rule).
class NoUint16Backend : public CountingBackend {
 public:
  explicit NoUint16Backend(std::unique_ptr<Backend> inner) : CountingBackend(std::move(inner)) {
    meta_ = CountingBackend::metadata();
    meta_.uint16 = Uint16Mapping();
  }
  const ModelMetadata& metadata() const override { return meta_; }

 private:
  ModelMetadata meta_;
};

void register_counting() {
  register_backend(".counted", "counting", [](const std::string& path, const BackendOptions& o) {
    return std::unique_ptr<Backend>(new CountingBackend(open_onnxruntime_backend(path, o)));
  });
}

}  // namespace

TEST_CASE(shipped_model_metadata_and_options) {
  Segmenter seg(FASSST_TEST_MODEL);
  const ModelMetadata& m = seg.metadata();
  CHECK_EQ(m.input_size, 192);
  CHECK_EQ(m.roi_size, 16);
  CHECK_EQ(m.mask_channels, 32);
  CHECK(seg.class_names() == (std::vector<std::string>{"nucleus", "bacterium"}));
  CHECK_EQ(seg.tile_size(), 192);  // the model's default tiling
  CHECK_EQ(seg.tile_overlap(), 64);
  CHECK_EQ(seg.backend_name(), std::string("onnxruntime"));
  CHECK_EQ(seg.score_threshold(), 0.3f);
  SegmenterOptions o;
  o.tiling = Tiling::kOn;
  o.tile_size = 256;
  o.score_threshold = 0.5f;
  Segmenter custom(FASSST_TEST_MODEL, o);
  CHECK_EQ(custom.tile_overlap(), 64);  // size / 4
  CHECK_EQ(custom.score_threshold(), 0.5f);
  CHECK(registered_backends().at(".onnx") == "onnxruntime");
}

TEST_CASE(run_gives_consistent_instances_and_a_tiled_frame_runs_as_one_batch) {
  Segmenter seg(FASSST_TEST_MODEL);
  const int h = 300, w = 400;
  const std::vector<uint8_t> img = disc_frame(h, w, 3);
  const Instances inst = seg.run(view(img, h, w, PixelFormat::kBGR));
  CHECK_EQ(inst.image_height, h);
  CHECK_EQ(inst.image_width, w);
  CHECK_EQ(inst.timings.at("tiles"), 6.0);  // 2 rows x 3 columns of 192 px tiles
  CHECK(inst.timings.count("frame") == 1 && inst.timings.count("rff_tail") == 1);
  CHECK(inst.size() > 0);  // the discs are found
  CHECK_EQ(inst.mask_size, 32);
  CHECK_EQ(inst.box_masks.size(), inst.size() * 32 * 32);
  for (size_t i = 0; i < inst.size(); ++i) {
    const float* b = &inst.boxes[i * 4];
    CHECK(b[0] >= 0 && b[1] >= 0 && b[2] <= w && b[3] <= h && b[0] <= b[2] && b[1] <= b[3]);
    CHECK(inst.scores[i] >= 0.3f && inst.scores[i] <= 1.0f);
    CHECK(inst.labels[i] == 0 || inst.labels[i] == 1);
    const std::vector<uint8_t> mask = inst.mask(i);
    const int on = static_cast<int>(std::count(mask.begin(), mask.end(), uint8_t{1}));
    CHECK(on > 0);
  }
  const std::vector<uint8_t> all = inst.masks();
  CHECK_EQ(all.size(), inst.size() * h * w);
  // Untiled: one letterboxed input.
  SegmenterOptions off;
  off.tiling = Tiling::kOff;
  const Instances whole = Segmenter(FASSST_TEST_MODEL, off).run(view(img, h, w, PixelFormat::kBGR));
  CHECK_EQ(whole.timings.count("tiles"), size_t{0});
}

TEST_CASE(pixel_formats_and_strides_give_the_same_instances) {
  Segmenter seg(FASSST_TEST_MODEL);
  const int h = 300, w = 400;
  const std::vector<uint8_t> bgr = disc_frame(h, w, 3);
  const Instances ref = seg.run(view(bgr, h, w, PixelFormat::kBGR));
  const std::vector<uint8_t> padded = disc_frame(h, w, 3, 17);
  CHECK(same(ref, seg.run(view(padded, h, w, PixelFormat::kBGR, w * 3 + 17))));
  const std::vector<uint8_t> grey = disc_frame(h, w, 1);
  CHECK(same(ref, seg.run(view(grey, h, w, PixelFormat::kGray8))));
  const std::vector<uint8_t> bgra = disc_frame(h, w, 4);
  CHECK(same(ref, seg.run(view(bgra, h, w, PixelFormat::kBGRA))));
  CHECK(same(ref, seg.run(view(bgr, h, w, PixelFormat::kRGB))));  // grey content: order does not matter
  // 16-bit: the model's percentile rule maps the frame to 8 bits first.
  std::vector<uint8_t> g16(static_cast<size_t>(h) * w * 2);
  for (size_t i = 0; i < grey.size(); ++i) {
    const uint16_t v = static_cast<uint16_t>(grey[i] * 200);
    std::memcpy(&g16[i * 2], &v, 2);
  }
  const Instances inst16 = seg.run(view(g16, h, w, PixelFormat::kGray16));
  CHECK(inst16.size() > 0);
}

TEST_CASE(run_batch_equals_single_runs) {
  SegmenterOptions off;
  off.tiling = Tiling::kOff;
  Segmenter seg(FASSST_TEST_MODEL, off);
  const std::vector<uint8_t> a = disc_frame(300, 400, 3), b = disc_frame(150, 120, 3);
  const std::vector<Instances> both =
      seg.run_batch({view(a, 300, 400, PixelFormat::kBGR), view(b, 150, 120, PixelFormat::kBGR)});
  CHECK_EQ(both.size(), size_t{2});
  const Instances ra = seg.run(view(a, 300, 400, PixelFormat::kBGR));
  CHECK_EQ(both[0].size(), ra.size());
  for (size_t i = 0; i < std::min(ra.size(), both[0].size()) * 4; ++i) CHECK_NEAR(both[0].boxes[i], ra.boxes[i], 1e-3);
  CHECK(seg.run_batch({}).empty());
}

// Frames of different sizes from memory; fails at `fail_at` when >= 0.
class MemorySource : public FrameSource {
 public:
  MemorySource(std::vector<std::vector<uint8_t>> frames, std::vector<std::pair<int, int>> sizes, int fail_at = -1)
      : frames_(std::move(frames)), sizes_(std::move(sizes)), fail_at_(fail_at) {}
  bool read(SourceFrame* f) override {
    if (next_ == fail_at_) throw BackendError("the camera fell off");
    if (next_ >= static_cast<int>(frames_.size())) return false;
    f->image = view(frames_[next_], sizes_[next_].first, sizes_[next_].second, PixelFormat::kBGR);
    ++next_;
    return true;
  }
  std::string name() const override { return "memory"; }

 private:
  std::vector<std::vector<uint8_t>> frames_;
  std::vector<std::pair<int, int>> sizes_;
  int fail_at_;
  int next_ = 0;
};

TEST_CASE(a_stream_gives_runs_instances_in_order_and_reports_errors) {
  Segmenter seg(FASSST_TEST_MODEL);  // tiled by the model's default: 300 x 400 is 9 tiles
  std::vector<std::vector<uint8_t>> frames = {disc_frame(300, 400, 3), disc_frame(150, 120, 3),
                                              disc_frame(300, 400, 3, 0)};
  const std::vector<std::pair<int, int>> sizes = {{300, 400}, {150, 120}, {300, 400}};
  std::vector<Instances> want;
  for (size_t i = 0; i < frames.size(); ++i)
    want.push_back(seg.run(view(frames[i], sizes[i].first, sizes[i].second, PixelFormat::kBGR)));
  {
    Stream stream(seg, std::unique_ptr<FrameSource>(new MemorySource(frames, sizes)));
    CHECK_THROWS(InvalidArgument, seg.run(view(frames[0], 300, 400, PixelFormat::kBGR)), "a Stream is running");
    StreamResult r;
    int64_t n = 0;
    while (stream.next(&r)) {
      CHECK_EQ(r.frame_index, n);
      CHECK_EQ(r.source, std::string("memory"));
      CHECK(same(r.instances, want[static_cast<size_t>(n)]));
      ++n;
    }
    CHECK_EQ(n, int64_t{3});
    CHECK(!stream.next(&r));
  }
  for (StreamMode mode : {StreamMode::kThroughput, StreamMode::kLatency}) {  // one step at a time: the same results
    StreamOptions one_step;
    one_step.overlap = false;
    one_step.mode = mode;
    Stream stream(seg, std::unique_ptr<FrameSource>(new MemorySource(frames, sizes)), one_step);
    StreamResult r;
    int64_t n = 0;
    while (stream.next(&r)) CHECK(same(r.instances, want[static_cast<size_t>(n++)]));
    CHECK_EQ(n, int64_t{3});
  }
  CHECK(!seg.run(view(frames[1], 150, 120, PixelFormat::kBGR)).boxes.empty() || true);  // free again
  Stream failing(seg, std::unique_ptr<FrameSource>(new MemorySource(frames, sizes, 1)));
  StreamResult r;
  CHECK(failing.next(&r));
  CHECK_THROWS(BackendError, failing.next(&r), "the camera fell off");
  CHECK(!failing.next(&r));
}

// The ONNX Runtime backend, recording the batch size of each frame-graph call.
class BatchRecordingBackend : public Backend {
 public:
  BatchRecordingBackend(std::unique_ptr<Backend> inner, std::vector<int64_t>* batches)
      : inner_(std::move(inner)), batches_(batches) {}
  std::string name() const override { return "batch-recording"; }
  const ModelMetadata& metadata() const override { return inner_->metadata(); }
  FrameOutputs run_frame(const float* images, int64_t batch) override {
    batches_->push_back(batch);  // the stream's one frame-graph thread calls it
    return inner_->run_frame(images, batch);
  }
  void run_tail(const float* features, int64_t count, float* logits) override {
    inner_->run_tail(features, count, logits);
  }

 private:
  std::unique_ptr<Backend> inner_;
  std::vector<int64_t>* batches_;
};

bool close_to(const Instances& a, const Instances& b) {
  if (a.size() != b.size() || a.labels != b.labels) return false;
  for (size_t i = 0; i < a.boxes.size(); ++i)
    if (std::fabs(a.boxes[i] - b.boxes[i]) > 1e-3f + 1e-5f * std::fabs(b.boxes[i])) return false;
  for (size_t i = 0; i < a.box_masks.size(); ++i)
    if (std::fabs(a.box_masks[i] - b.box_masks[i]) > 1e-4f) return false;
  return true;
}

TEST_CASE(a_stream_of_several_sources_batches_their_frames_into_one_frame_graph_call) {
  std::vector<int64_t> batches;
  SegmenterOptions off;
  off.tiling = Tiling::kOff;
  Segmenter seg(std::unique_ptr<Backend>(new BatchRecordingBackend(open_onnxruntime_backend(FASSST_TEST_MODEL),
                                                                   &batches)),
                off);
  const std::vector<std::vector<uint8_t>> a = {disc_frame(300, 400, 3), disc_frame(300, 400, 3, 0),
                                               disc_frame(300, 400, 3)};
  const std::vector<std::vector<uint8_t>> b = {disc_frame(150, 120, 3), disc_frame(150, 120, 3)};
  const std::vector<std::pair<int, int>> size_a(3, {300, 400}), size_b(2, {150, 120});
  std::vector<Instances> want_a, want_b;
  for (const auto& f : a) want_a.push_back(seg.run(view(f, 300, 400, PixelFormat::kBGR)));
  for (const auto& f : b) want_b.push_back(seg.run(view(f, 150, 120, PixelFormat::kBGR)));
  batches.clear();
  {
    std::vector<std::unique_ptr<FrameSource>> sources;
    sources.emplace_back(new MemorySource(a, size_a));
    sources.emplace_back(new MemorySource(b, size_b));
    Stream stream(seg, std::move(sources));
    StreamResult r;
    std::vector<std::pair<int, int64_t>> order;
    while (stream.next(&r)) {
      order.emplace_back(r.source_index, r.frame_index);
      const Instances& want = r.source_index == 0 ? want_a.at(r.frame_index) : want_b.at(r.frame_index);
      CHECK(close_to(r.instances, want));
    }
    // two steps of both sources, then a alone; a step's results in source order
    CHECK(order == (std::vector<std::pair<int, int64_t>>{{0, 0}, {1, 0}, {0, 1}, {1, 1}, {0, 2}}));
  }
  CHECK(batches == (std::vector<int64_t>{2, 2, 1}));
  // A failing source ends the stream after the frames read before it.
  std::vector<std::unique_ptr<FrameSource>> sources;
  sources.emplace_back(new MemorySource(a, size_a));
  sources.emplace_back(new MemorySource(b, size_b, 1));
  StreamOptions one;
  one.queue_size = 1;
  Stream failing(seg, std::move(sources), one);
  StreamResult r;
  int from_b = 0;
  bool threw = false;
  try {
    while (failing.next(&r)) from_b += r.source_index == 1;
  } catch (const BackendError& e) {
    threw = std::string(e.what()).find("the camera fell off") != std::string::npos;
  }
  CHECK(threw);
  CHECK_EQ(from_b, 1);
  std::vector<std::unique_ptr<FrameSource>> none;
  CHECK_THROWS(InvalidArgument, Stream(seg, std::move(none)), "at least one source");
}

TEST_CASE(an_application_backend_runs_the_tail_on_the_selected_instances_only) {
  register_counting();
  CHECK(registered_backends().at(".counted") == "counting");
  SegmenterOptions o;
  o.backend = "counting";
  o.score_threshold = 0.0f;  // random weights: every cell is a candidate
  Segmenter seg(FASSST_TEST_TINY_MODEL, o);
  CHECK_EQ(seg.backend_name(), std::string("counting"));
  const std::vector<uint8_t> img = disc_frame(96, 160, 3);
  CountingBackend::tail_calls = 0;
  const Instances inst = seg.run(view(img, 96, 160, PixelFormat::kBGR));
  CHECK(inst.size() > 0);
  CHECK_EQ(CountingBackend::tail_calls.load(), 1);  // one tail call for all K
  CHECK_EQ(CountingBackend::last_count.load(), static_cast<int64_t>(inst.size()));
  o.score_threshold = 1.0f;  // nothing passes: K = 0, no tail call
  Segmenter none(FASSST_TEST_TINY_MODEL, o);
  CountingBackend::tail_calls = 0;
  const Instances empty = none.run(view(img, 96, 160, PixelFormat::kBGR));
  CHECK(empty.empty());
  CHECK_EQ(CountingBackend::tail_calls.load(), 0);
  CHECK(empty.masks().empty());
  // The Segmenter also takes an opened backend directly.
  Segmenter direct(std::unique_ptr<Backend>(new CountingBackend(open_onnxruntime_backend(FASSST_TEST_TINY_MODEL))));
  CHECK_EQ(direct.metadata().input_size, 128);
}

TEST_CASE(threads_sharing_a_segmenter_get_sequential_results) {
  Segmenter seg(FASSST_TEST_MODEL);
  const std::vector<uint8_t> img = disc_frame(300, 400, 3);
  const Instances ref = seg.run(view(img, 300, 400, PixelFormat::kBGR));
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 2; ++i)
        if (!same(ref, seg.run(view(img, 300, 400, PixelFormat::kBGR)))) ++mismatches;
    });
  for (auto& t : threads) t.join();
  CHECK_EQ(mismatches.load(), 0);
}

TEST_CASE(errors_name_the_file_or_argument) {
  CHECK_THROWS(ModelError, Segmenter("/nonexistent/model.onnx"), "/nonexistent/model.onnx: the model's frame graph does not exist");
  CHECK_THROWS(ModelError, Segmenter("/tmp/model.weights"), "unknown model file suffix '.weights'");
  CHECK_THROWS(ModelError, Segmenter("/tmp/model.plan"), "without the TensorRT backend");
  SegmenterOptions bad;
  bad.backend = "nope";
  CHECK_THROWS(InvalidArgument, Segmenter(FASSST_TEST_MODEL, bad), "got 'nope'");
  SegmenterOptions tile;
  tile.tiling = Tiling::kOn;
  tile.tile_size = 16;
  CHECK_THROWS(InvalidArgument, Segmenter(FASSST_TEST_MODEL, tile), "tile size must be an int >= 32");
  SegmenterOptions dev;
  dev.device = "tpu";
  CHECK_THROWS(InvalidArgument, Segmenter(FASSST_TEST_MODEL, dev), "device must be 'auto', 'cpu' or 'cuda'");
  Segmenter seg(FASSST_TEST_TINY_MODEL);
  const std::vector<uint8_t> img = disc_frame(20, 30, 3);
  CHECK_THROWS(InvalidArgument, seg.run(view(img, 20, 30, PixelFormat::kBGR, 10)), "image.stride must be 0 (packed) or in [width * 3 = 90, 2147483648] bytes, got 10");
  CHECK_THROWS(InvalidArgument, seg.run(view(img, 0, 30, PixelFormat::kBGR)), "at least 1 x 1");
  ImageView null_view;
  CHECK_THROWS(InvalidArgument, seg.run(null_view), "image.data must not be null");
  CHECK(seg.run(view(img, 20, 15, PixelFormat::kGray16)).image_width == 15);  // the model's percentile rule
  Segmenter no16(std::unique_ptr<Backend>(new NoUint16Backend(open_onnxruntime_backend(FASSST_TEST_TINY_MODEL))));
  CHECK_THROWS(InvalidArgument, no16.run(view(img, 20, 15, PixelFormat::kGray16)), "no mapping for 16-bit frames");
  // The error hierarchy: everything is a fassst::Error.
  CHECK_THROWS(Error, Segmenter("/nonexistent/model.onnx"), "does not exist");
}

TEST_CASE(a_tracker_links_from_the_library_and_keeps_ids_on_a_still_scene) {
  // fassst::Tracker through the public headers: the same frame twice gives
  // every instance the same id; with masks too.
  Segmenter seg(FASSST_TEST_MODEL);
  const int h = 300, w = 400;
  const std::vector<uint8_t> img = disc_frame(h, w, 3);
  const Instances inst = seg.run(view(img, h, w, PixelFormat::kBGR));
  CHECK(inst.size() > 0);
  for (bool use_masks : {false, true}) {
    TrackerOptions o;
    o.use_masks = use_masks;
    o.new_track_threshold = 0.0f;  // every instance at or above high_threshold starts a track
    Tracker tracker(o);
    const std::vector<int64_t> first = tracker.update(inst), second = tracker.update(inst);
    CHECK(first == second);
    for (size_t i = 0; i < inst.size(); ++i) CHECK_EQ(first[i] >= 1, inst.scores[i] >= o.high_threshold);
  }
  CHECK_THROWS(InvalidArgument, Tracker(TrackerOptions{2.0f}), "high_threshold");
}

TEST_CASE(warmup_runs_the_tail) {
  register_counting();
  SegmenterOptions o;
  o.backend = "counting";
  o.score_threshold = 1.0f;
  Segmenter seg(FASSST_TEST_TINY_MODEL, o);
  CountingBackend::tail_calls = 0;
  seg.warmup(2);
  CHECK_EQ(CountingBackend::tail_calls.load(), 2);
  CHECK_EQ(std::string(version()), std::string(FASSST_TEST_VERSION));  // pyproject.toml's
}

TEST_CASE(thread_counts_are_bounded_before_any_thread_starts) {
  SegmenterOptions many;
  many.num_threads = 100000;
  CHECK_THROWS(InvalidArgument, Segmenter(FASSST_TEST_TINY_MODEL, many),
               "num_threads must be in [0, 1024] (0: one per hardware thread), got 100000");
  BackendOptions backend_many;
  backend_many.num_threads = 100000;
  CHECK_THROWS(InvalidArgument, open_onnxruntime_backend(FASSST_TEST_TINY_MODEL, backend_many), "got 100000");
  // a backend opened by the application: the Segmenter's own option is checked too
  CHECK_THROWS(InvalidArgument, Segmenter(open_onnxruntime_backend(FASSST_TEST_TINY_MODEL), many), "got 100000");
}

CHECK_MAIN()
