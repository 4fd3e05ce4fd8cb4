// The C++ core against known values (no model, no ONNX Runtime): tiling,
// letterbox, normalisation, selection, paste, sigmoid, the 16-bit mapping,
// the JSON reader and metadata validation, sha256, the ROI kernels, the
// thread pool.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <vector>

#include "check.h"
#include "core/errors.h"
#include "core/input_mapping.h"
#include "core/json.h"
#include "core/letterbox.h"
#include "core/memory_budget.h"
#include "core/paste.h"
#include "core/roi_ops.h"
#include "core/select.h"
#include "core/sha256.h"
#include "core/tiling.h"
#include "fassst/backend.h"
#include "fassst/instances.h"
#include "fassst/metadata.h"
#include "parallel/thread_pool.h"

using namespace fassst;

TEST_CASE(tile_starts_are_evenly_spaced_with_half_even_rounding) {
  // 1100 px, 192 px tiles, >= 64 overlap: 9 tiles, starts i * 113.5 rounded
  // half to even, as Python's round() does (fassst_rt/tiling.py before the port).
  const std::vector<Tile> tiles = tile_grid(1, 1100, 192, 64);
  const int want[9] = {0, 114, 227, 340, 454, 568, 681, 794, 908};
  CHECK_EQ(tiles.size(), size_t{9});
  for (size_t i = 0; i < tiles.size() && i < 9; ++i) {
    CHECK_EQ(tiles[i].x0, want[i]);
    CHECK_EQ(tiles[i].x1, want[i] + 192);
  }
  // cores: borders in the middle of each overlap, the frame edges close them
  CHECK_EQ(tiles[0].core_x0, 0.0);
  CHECK_EQ(tiles[0].core_x1, (192 + 114) / 2.0);
  CHECK_EQ(tiles[8].core_x1, 1100.0);
}

TEST_CASE(tile_grid_is_row_major_and_small_frames_get_one_tile) {
  const std::vector<Tile> tiles = tile_grid(300, 420, 128, 32);
  CHECK_EQ(tiles.size(), size_t{3 * 5});  // ceil((300 - 32) / 96) x ceil((420 - 32) / 96)
  CHECK(tiles[1].y0 == 0 && tiles[1].x0 > 0);  // second tile: same row
  const std::vector<Tile> one = tile_grid(100, 90, 128, 32);
  CHECK_EQ(one.size(), size_t{1});
  CHECK(one[0].y1 == 100 && one[0].x1 == 90 && one[0].core_y1 == 100.0 && one[0].core_x1 == 90.0);
  CHECK_THROWS(InvalidArgument, tile_grid(100, 100, 64, 64), "0 <= overlap < size");
}

TEST_CASE(every_point_has_one_core_owner) {
  const std::vector<Tile> tiles = tile_grid(333, 517, 128, 40);
  for (float y = 0.0f; y <= 333.0f; y += 0.5f)
    for (float x = 0.0f; x <= 517.0f; x += 0.5f) {
      const float box[4] = {x - 1, y - 1, x + 1, y + 1};
      int owners = 0;
      for (const Tile& t : tiles) owners += in_core(box, t) ? 1 : 0;
      if (owners != 1) {
        CHECK_EQ(owners, 1);
        return;
      }
    }
}

TEST_CASE(cross_tile_nms_is_class_aware) {
  const float boxes[12] = {0, 0, 10, 10, 1, 0, 11, 10, 0, 0, 10, 10};
  const int64_t labels[3] = {0, 0, 1};
  const float scores[3] = {0.8f, 0.9f, 0.5f};
  const std::vector<int64_t> kept = cross_tile_nms(boxes, labels, scores, 3, 2, 0.5f);
  CHECK_EQ(kept.size(), size_t{2});  // box 0 suppressed by box 1; box 2 has another class
  CHECK(kept.size() == 2 && kept[0] == 1 && kept[1] == 2);
}

TEST_CASE(select_keeps_best_class_threshold_and_ties_by_cell) {
  // 3 cells, 2 classes; cells 0 and 1 overlap with equal scores: cell 0 wins.
  const float boxes[12] = {0, 0, 10, 10, 0, 0, 10, 10, 50, 50, 60, 60};
  const float scores[6] = {0.9f, 0.1f, 0.9f, 0.2f, 0.1f, 0.2f};
  SelectParams p{0.3f, 0.5f, 10};
  Selection s = select_instances(boxes, scores, 3, 2, p);
  CHECK_EQ(s.cells.size(), size_t{1});
  CHECK(s.cells.size() == 1 && s.cells[0] == 0 && s.labels[0] == 0);
  p.score_threshold = 0.15f;
  s = select_instances(boxes, scores, 3, 2, p);
  CHECK(s.cells.size() == 2 && s.cells[1] == 2 && s.labels[1] == 1);
  p.max_instances = 1;
  CHECK_EQ(select_instances(boxes, scores, 3, 2, p).cells.size(), size_t{1});
  CHECK_NEAR(box_iou(boxes, boxes + 8), 0.0, 0.0);
}

TEST_CASE(letterbox_geometry_and_boxes_back_to_the_frame) {
  const LetterboxGeometry g = letterbox_geometry(700, 1100, 416);
  CHECK_EQ(g.new_width, 416);
  CHECK_EQ(g.new_height, 265);  // round(700 * 416 / 1100) = round(264.73)
  CHECK_EQ(g.pad_x, 0);
  CHECK_EQ(g.pad_y, 75);
  float box[4] = {0.0f, 75.0f, 416.0f, 340.0f};
  boxes_to_frame(box, 1, g, 700, 1100, true);
  CHECK_NEAR(box[2], 1100.0, 1e-3);
  CHECK_NEAR(box[3], 700.0, 0.01);
}

TEST_CASE(letterbox_pads_with_114_and_copies_an_exact_fit) {
  // A 2 x 4 frame into 4 x 4: scale 1, rows 1..2 are the frame, the rest pad.
  const uint8_t src[2 * 4] = {10, 20, 30, 40, 50, 60, 70, 80};
  uint8_t dst[16];
  letterbox(src, 2, 4, 4, 1, 4, 114, dst, 1);
  CHECK_EQ(int(dst[0]), 114);
  CHECK_EQ(int(dst[4]), 10);
  CHECK_EQ(int(dst[11]), 80);
  CHECK_EQ(int(dst[15]), 114);
}

TEST_CASE(to_network_input_flips_bgr_and_normalises) {
  const uint8_t canvas[3] = {0, 128, 255};  // one BGR pixel: R = 255, B = 0
  const float mean[3] = {0.5f, 0.25f, 0.0f}, std[3] = {0.5f, 0.25f, 1.0f};
  float out[3];
  to_network_input(canvas, 1, 1, mean, std, true, out);
  CHECK_NEAR(out[0], (1.0f - 0.5f) / 0.5f, 1e-6);              // R plane
  CHECK_NEAR(out[1], (128.0f / 255.0f - 0.25f) / 0.25f, 1e-6);  // G plane
  CHECK_NEAR(out[2], 0.0, 0.0);                                 // B plane
}

// The pipeline's one-pass preprocessing against its two steps (uint8 canvas,
// then normalisation): equal value for value, for letterboxes that shrink,
// enlarge and fit exactly, stride-grid inputs, both channel orders, 1 and 2 threads.
TEST_CASE(resize_to_network_input_equals_the_canvas_then_normalisation) {
  const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
  const int shapes[][2] = {{37, 53}, {200, 90}, {64, 64}, {5, 3}};
  uint32_t seed = 12345;
  for (const auto& shape : shapes) {
    const int h = shape[0], w = shape[1];
    const int64_t stride = w * 3 + 7;  // rows with a gap, as a view into a larger image has
    std::vector<uint8_t> src(static_cast<size_t>(h * stride));
    for (auto& v : src) v = static_cast<uint8_t>((seed = seed * 1103515245u + 12345u) >> 24);
    for (int size : {64, 96}) {
      for (bool bgr : {false, true}) {
        for (int threads : {1, 2}) {
          std::vector<uint8_t> canvas(static_cast<size_t>(size * size * 3));
          letterbox(src.data(), h, w, stride, 3, size, 114, canvas.data(), threads);
          std::vector<float> want(static_cast<size_t>(3 * size * size)), got(want.size(), -99.0f);
          to_network_input(canvas.data(), size, size, mean, std, bgr, want.data());
          const NormalisationTable table(mean, std, bgr);
          resize_to_network_input(src.data(), h, w, stride, letterbox_geometry(h, w, size), size, size, 114, table,
                                  got.data(), threads);
          CHECK(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)) == 0);
        }
      }
    }
    for (float scale : {1.0f, 1.5f, 0.7f}) {
      const StrideGeometry g = stride_geometry(h, w, scale, 32);
      std::vector<uint8_t> canvas(static_cast<size_t>(g.height) * g.width * 3);
      scale_and_pad(src.data(), h, w, stride, 3, g, 114, canvas.data(), 2);
      std::vector<float> want(static_cast<size_t>(3) * g.height * g.width), got(want.size(), -99.0f);
      to_network_input(canvas.data(), g.height, g.width, mean, std, false, want.data());
      const NormalisationTable table(mean, std, false);
      resize_to_network_input(src.data(), h, w, stride, g.letterbox, g.height, g.width, 114, table, got.data(), 2);
      CHECK(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)) == 0);
    }
  }
}

TEST_CASE(sigmoid_is_clipped) {
  float v[3] = {0.0f, 1000.0f, -1000.0f};
  sigmoid_inplace(v, 3);
  CHECK_EQ(v[0], 0.5f);
  CHECK_EQ(v[1], 1.0f);  // 1 / (1 + e^-80) rounds to 1 in float32
  CHECK(v[2] > 0.0f && v[2] < 1e-30f);  // exp(-80): no overflow, no exact 0
}

TEST_CASE(paste_fills_the_box_where_the_mask_is_on) {
  std::vector<float> mask(4 * 4, 1.0f);
  const float box[4] = {2.0f, 1.0f, 6.0f, 3.0f};
  std::vector<uint8_t> out(5 * 8);
  paste_masks(mask.data(), box, 1, 4, 5, 8, 0.5f, out.data(), 1);
  int on = 0;
  for (uint8_t v : out) on += v;
  CHECK_EQ(on, 4 * 2);  // pixel centres 2.5..5.5 x 1.5..2.5
  CHECK_EQ(int(out[1 * 8 + 2]), 1);
  CHECK_EQ(int(out[1 * 8 + 1]), 0);
  Instances inst;
  inst.image_height = 5;
  inst.image_width = 8;
  inst.mask_size = 4;
  inst.box_masks = mask;
  inst.mask_boxes.assign(box, box + 4);
  inst.boxes = inst.mask_boxes;
  inst.scores = {0.9f};
  inst.labels = {0};
  inst.names = {"cell"};
  CHECK(inst.mask(0) == out);
  CHECK(inst.masks() == out);
  CHECK_EQ(inst.class_name(0), std::string("cell"));
  CHECK_THROWS(InvalidArgument, inst.mask(1), "index must be < 1");
}

TEST_CASE(uint16_mapping_rules) {
  std::vector<uint16_t> v(101);
  for (int i = 0; i <= 100; ++i) v[i] = static_cast<uint16_t>(i * 10);
  std::vector<uint8_t> out(101);
  Uint16Mapping window{"window", 0, 0, 0, 1000};
  map_uint16_to_uint8(v.data(), 1, 101, 202, window, out.data());
  CHECK_EQ(int(out[100]), 255);
  CHECK_EQ(int(out[50]), 128);  // floor(0.5 * 255 + 0.5)
  // percentile 0.5 / 99.5 of 0, 10, ..., 1000: 5 and 995 (NumPy's linear rule)
  Uint16Mapping pct{"percentile", 0.5, 99.5, 0, 0};
  map_uint16_to_uint8(v.data(), 1, 101, 202, pct, out.data());
  CHECK_EQ(int(out[0]), 0);
  CHECK_EQ(int(out[100]), 255);
  CHECK_EQ(int(out[50]), 128);  // (500 - 5) / 990 * 255 = 127.5 -> 128
  CHECK_EQ(int(out[1]), 1);     // (10 - 5) / 990 * 255 = 1.29 -> 1
  Uint16Mapping none;
  CHECK_THROWS(InvalidArgument, map_uint16_to_uint8(v.data(), 1, 101, 202, none, out.data()), "no mapping for 16-bit");
  Uint16Mapping identity{"identity", 0, 0, 0, 0};
  CHECK_THROWS(InvalidArgument, map_uint16_to_uint8(v.data(), 1, 101, 202, identity, out.data()), "0..255");
}

TEST_CASE(json_reader) {
  const json::Value v = json::parse(R"( {"a": [1, 2.5, -3e2], "b": {"c": "x\u00e9\n"}, "d": null, "e": true} )", "t");
  CHECK(v.is_object());
  CHECK(v.find("a")->as_array()[0].is_integer());
  CHECK(!v.find("a")->as_array()[1].is_integer());
  CHECK_EQ(v.find("a")->as_array()[2].as_number(), -300.0);
  CHECK_EQ(v.find("b")->find("c")->as_string(), std::string("x\xc3\xa9\n"));
  CHECK(v.find("d")->is_null() && v.find("e")->as_bool());
  CHECK_THROWS(MetadataError, json::parse("{\"a\": 1,}", "src.onnx"), "src.onnx");
  CHECK_THROWS(MetadataError, json::parse("[1 2]", "t"), "expected ',' or ']'");
  CHECK_THROWS(MetadataError, json::parse("{} x", "t"), "after the document");
}

namespace {
const char* kDoc = R"({"format": "fassst", "version": 1, "input_size": 416,
  "input_mapping": {"channel_order": "rgb", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                    "uint16": {"kind": "percentile", "low": 0.5, "high": 99.5}},
  "grid_size": 6, "mask_channels": 16, "roi_size": 28, "strides": [8, 16, 32], "rff": true,
  "class_names": ["cell", "debris"], "score_threshold": 0.4, "nms_threshold": 0.5,
  "tile": {"size": 256, "overlap": 64}, "tail_sha256": "abc", "training": {"epochs": 3}})";

std::string with(const std::string& from, const std::string& to) {
  std::string s = kDoc;
  const size_t at = s.find(from);
  return s.replace(at, from.size(), to);
}
}  // namespace

TEST_CASE(metadata_parses_and_validates_like_python) {
  const ModelMetadata m = ModelMetadata::from_json(kDoc, "m.onnx");
  CHECK_EQ(m.input_size, 416);
  CHECK_EQ(m.num_cells(), 36);
  CHECK_EQ(m.num_classes(), 2);
  CHECK_EQ(m.max_instances, 36);  // default S * S
  CHECK(m.has_tile && m.tile_size == 256 && m.tile_overlap == 64);
  CHECK_EQ(m.mean[0], 0.485f);
  CHECK_EQ(m.uint16.kind, std::string("percentile"));
  CHECK_EQ(m.score_threshold, 0.4f);
  CHECK_THROWS(MetadataError, ModelMetadata::from_json(with("\"version\": 1", "\"version\": 2"), "m.onnx"),
               "m.onnx: metadata format version 2 is not supported");
  CHECK_THROWS(MetadataError, ModelMetadata::from_json(with("\"roi_size\": 28", "\"roi_size\": 30"), "m"),
               "roi_size must be a multiple of 4, got 30");
  CHECK_THROWS(MetadataError, ModelMetadata::from_json(with("\"input_size\": 416", "\"input_size\": 416.0"), "m"),
               "input_size must be an integer in [32, 4096], got 416");
  CHECK_THROWS(MetadataError, ModelMetadata::from_json(with("[\"cell\", \"debris\"]", "[]"), "m"),
               "class_names must be a non-empty list of at most 100000 strings");
  CHECK_THROWS(MetadataError, ModelMetadata::from_json(with("\"score_threshold\": 0.4", "\"score_threshold\": 2"), "m"),
               "score_threshold must be a number in [0, 1], got 2");
  CHECK_THROWS(MetadataError, ModelMetadata::from_json(with("\"percentile\"", "\"magic\""), "m"),
               "unknown 16-bit mapping rule");
  CHECK_THROWS(MetadataError, ModelMetadata::from_json(with("\"std\": [0.229, 0.224, 0.225]", "\"std\": [1, 0, 1]"), "m"),
               "input_mapping.std must be a list of 3 numbers in [1e-06, 1000], got [1, 0, 1]");
}

TEST_CASE(stride_grid_metadata_parses_and_validates) {
  const std::string grid = "\"grid\": {\"kind\": \"stride\", \"cell\": 24, \"period\": 96}, \"input_scale\": 1.5, ";
  auto stride = [&](const std::string& g) { return with("\"grid_size\": 6, ", g + "\"grid_size\": 6, "); };
  const ModelMetadata m = ModelMetadata::from_json(stride(grid), "m.onnx");
  CHECK(m.stride_grid && m.grid_cell == 24 && m.grid_period == 96);
  CHECK_EQ(m.input_scale, 1.5f);
  CHECK_EQ(m.num_cells(768, 1152), int64_t{32 * 48});
  CHECK_EQ(m.max_instances, kStrideGridMaxInstances);
  const ModelMetadata square = ModelMetadata::from_json(kDoc, "m.onnx");
  CHECK(!square.stride_grid && square.input_scale == 1.0f);
  CHECK_EQ(square.num_cells(768, 1152), int64_t{36});
  CHECK_THROWS(MetadataError, ModelMetadata::from_json(stride("\"grid\": {\"kind\": \"count\"}, "), "m"),
               "grid.kind must be 'stride', got \"count\"");
  CHECK_THROWS(MetadataError, ModelMetadata::from_json(stride("\"grid\": 24, "), "m"), "grid must be an object or null");
  CHECK_THROWS(MetadataError,
               ModelMetadata::from_json(stride("\"grid\": {\"kind\": \"stride\", \"cell\": 0, \"period\": 96}, "), "m"),
               "grid.cell must be an integer in [1, 4096], got 0");
  CHECK_THROWS(MetadataError,
               ModelMetadata::from_json(stride("\"grid\": {\"kind\": \"stride\", \"cell\": 24, \"period\": 80}, "), "m"),
               "grid.period must be a multiple of 32 and of grid.cell (24), got 80");
  CHECK_THROWS(MetadataError,
               ModelMetadata::from_json(stride("\"grid\": {\"kind\": \"stride\", \"cell\": 24, \"period\": 64}, "), "m"),
               "grid.period must be a multiple of 32 and of grid.cell (24), got 64");
  CHECK_THROWS(MetadataError,
               ModelMetadata::from_json(stride("\"grid\": {\"kind\": \"stride\", \"cell\": 24, \"period\": 96}, "
                                               "\"input_scale\": 0, "), "m"),
               "input_scale must be a number in [0.001, 8], got 0");
  CHECK_THROWS(MetadataError, ModelMetadata::from_json(stride("\"input_scale\": 1.5, "), "m"),
               "input_scale must be 1 for an S x S model");
}

TEST_CASE(stride_geometry_pads_to_the_period_and_maps_boxes_back) {
  const StrideGeometry g = stride_geometry(727, 1026, 1.5f, 96);
  CHECK_EQ(g.letterbox.new_height, 1090);  // 1090.5: the half goes to even, as Python's round()
  CHECK_EQ(g.letterbox.new_width, 1539);
  CHECK(g.height == 1152 && g.width == 1632 && g.letterbox.pad_x == 0 && g.letterbox.pad_y == 0);
  float box[4] = {15.0f, 30.0f, 1539.0f, 1200.0f};
  boxes_to_frame(box, 1, g.letterbox, 727, 1026, true);
  CHECK(box[0] == 10.0f && box[1] == 20.0f && box[2] == 1026.0f && box[3] == 727.0f);
  // at scale 1 the frame's pixels are copied as they are, the rest padded
  std::vector<uint8_t> frame(5 * 7 * 3);
  for (size_t i = 0; i < frame.size(); ++i) frame[i] = static_cast<uint8_t>(i);
  const StrideGeometry one = stride_geometry(5, 7, 1.0f, 32);
  CHECK(one.height == 32 && one.width == 32);
  std::vector<uint8_t> out(32 * 32 * 3);
  scale_and_pad(frame.data(), 5, 7, 7 * 3, 3, one, 114, out.data());
  CHECK_EQ(out[(4 * 32 + 6) * 3 + 2], frame[(4 * 7 + 6) * 3 + 2]);
  CHECK_EQ(out[(4 * 32 + 7) * 3], uint8_t{114});
  CHECK_EQ(out[(5 * 32) * 3], uint8_t{114});
  CHECK_THROWS(InvalidArgument, stride_geometry(5, 7, 0.0f, 32), "scale must be > 0");
}

namespace {
// A backend with only the square run_frame, as TensorRT's.
class SquareOnly : public Backend {
 public:
  explicit SquareOnly(const ModelMetadata& m) : meta_(m) {}
  using Backend::run_frame;
  std::string name() const override { return "square-only"; }
  const ModelMetadata& metadata() const override { return meta_; }
  FrameOutputs run_frame(const float*, int64_t batch) override {
    calls += batch;
    return FrameOutputs{};
  }
  void run_tail(const float*, int64_t, float*) override {}
  int64_t calls = 0;

 private:
  ModelMetadata meta_;
};
}  // namespace

TEST_CASE(backend_default_runs_only_square_inputs) {
  SquareOnly b(ModelMetadata::from_json(kDoc, "m.onnx"));
  b.run_frame(nullptr, 2, 416, 416);
  CHECK_EQ(b.calls, int64_t{2});
  CHECK_THROWS(BackendError, b.run_frame(nullptr, 1, 384, 576),
               "square-only: this backend runs only square S x S inputs (416 x 416), got a 384 x 576 input");
  CHECK_EQ(b.calls, int64_t{2});
}

TEST_CASE(memory_budget_estimates_a_stride_grid_input_by_its_shape) {
  const ModelMetadata m = ModelMetadata::from_json(kDoc, "m.onnx");
  const MemoryBudget budget(256, m);
  budget.check_input(288, 480, 0);
  CHECK_THROWS(MemoryBudgetExceeded, budget.check_input(1056, 1728, 0),
               "a 1056 x 1728 network input needs about");
  const MemoryBudget large(1024, m);
  large.check_input(1056, 1728, 0);
}

TEST_CASE(memory_budget_splits_what_the_frame_copy_leaves) {
  const ModelMetadata m = ModelMetadata::from_json(kDoc, "m.onnx");
  const MemoryBudget budget(1024, m);
  // one 416 px image: 20 x its float input, plus its three pyramid maps
  const int64_t input = 3 * 416 * 416 * 4;
  CHECK(budget.image_bytes() > 20 * input && budget.image_bytes() < 21 * input);
  const int64_t quarter = (int64_t{1024} << 20) / 4;
  CHECK_EQ(budget.images_per_call(0), quarter / budget.image_bytes());
  CHECK_EQ(budget.instances_per_tail_call(0), quarter / budget.instance_bytes());
  // a frame's copy takes its bytes out of every share
  const int64_t copy = int64_t{512} << 20;
  CHECK_EQ(budget.images_per_call(copy), (quarter / 2) / budget.image_bytes());
  ImageView grey{nullptr, 4000, 3000, 0, PixelFormat::kGray8};
  CHECK_EQ(frame_copy_bytes(grey), int64_t{4000} * 3000 * 3);
  grey.format = PixelFormat::kBGR;
  CHECK_EQ(frame_copy_bytes(grey), 0);
  grey.format = PixelFormat::kGray16;
  CHECK_EQ(frame_copy_bytes(grey), int64_t{4000} * 3000 * 6);
  budget.check_frames("image: a 9000 x 9000 frame", int64_t{9000} * 9000 * 3);
  CHECK_THROWS(MemoryBudgetExceeded, budget.check_frames("image: a 18000 x 18000 frame", int64_t{18000} * 18000 * 3),
               "image: a 18000 x 18000 frame is too large for memory_budget_mib = 1024: converting to 3 channels "
               "holds 927.0 MiB, which leaves 97.0 MiB");
  const int64_t results_share = (int64_t{1024} << 20) / 2;
  budget.check_results(results_share / budget.result_bytes(), 0);
  CHECK_THROWS(MemoryBudgetExceeded, budget.check_results(results_share / budget.result_bytes() + 1, 0),
               "raise memory_budget_mib or score_threshold");
  CHECK_THROWS(InvalidArgument, MemoryBudget(15, m), "memory_budget_mib must be in [16, 1048576], got 15");
  CHECK_THROWS(InvalidArgument, MemoryBudget(64, m), "memory_budget_mib = 64 is too small for this model");
}

TEST_CASE(sha256_known_digests) {
  CHECK_EQ(sha256_bytes("abc"), std::string("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
  CHECK_EQ(sha256_bytes(""), std::string("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
  CHECK_EQ(sha256_bytes(std::string(1000, 'a')).substr(0, 16), std::string("41edece42d63e8d9"));
  CHECK_THROWS(ModelError, sha256_file("/nonexistent/x.onnx"), "/nonexistent/x.onnx");
}

TEST_CASE(model_files_that_are_not_regular_files_are_refused_at_once) {
  // a link to /dev/zero and a FIFO would be read forever
  char dir[] = "/tmp/fassst_model_file_XXXXXX";
  CHECK(mkdtemp(dir) != nullptr);
  const std::string link = std::string(dir) + "/m.tail.onnx", fifo = std::string(dir) + "/f.tail.onnx";
  CHECK(symlink("/dev/zero", link.c_str()) == 0);
  CHECK(mkfifo(fifo.c_str(), 0600) == 0);
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS(ModelError, sha256_file(link), "must be a regular file");
  CHECK_THROWS(ModelError, sha256_file(fifo), "must be a regular file");
  CHECK_THROWS(ModelError, sha256_file(dir), "must be a regular file");
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1));
  std::remove(link.c_str());
  std::remove(fifo.c_str());
  rmdir(dir);
}

TEST_CASE(paste_of_boxes_far_outside_the_frame_is_defined) {
  const float mask[4] = {1, 1, 1, 1};
  std::vector<uint8_t> out(6 * 5, 7);
  const float far[4] = {-3e38f, 1.0f, 3e38f, 4.0f};  // spans the frame: pixels rows 1..3
  paste_masks(mask, far, 1, 2, 6, 5, 0.5f, out.data(), 1);
  int on = 0;
  for (uint8_t v : out) on += v;
  CHECK_EQ(on, 3 * 5);
  const float beyond[4] = {3e9f, 3e9f, 4e9f, 4e9f};  // wholly outside: empty
  paste_masks(mask, beyond, 1, 2, 6, 5, 0.5f, out.data(), 1);
  on = 0;
  for (uint8_t v : out) on += v;
  CHECK_EQ(on, 0);
}

TEST_CASE(metadata_numbers_out_of_range_are_refused) {
  const std::string base =
      R"({"version": 1, "input_size": 64, "input_mapping": {"mean": [0, 0, 0], "std": [1, 1, 1]%s},
          "grid_size": 2, "mask_channels": 4, "roi_size": 8, "strides": [8, 16, 32], "class_names": ["a"]%s})";
  auto doc = [&](const std::string& mapping, const std::string& extra) {
    std::string s = base;
    s.replace(s.find("%s"), 2, mapping);
    s.replace(s.find("%s"), 2, extra);
    return s;
  };
  CHECK_EQ(ModelMetadata::from_json(doc("", "")).input_size, 64);
  CHECK_THROWS(MetadataError, ModelMetadata::from_json(doc("", R"(, "input_size": 100000)")), "input_size");
  CHECK_THROWS(MetadataError, ModelMetadata::from_json(doc("", R"(, "strides": [1e-40, 16, 32])")), "strides");
  CHECK_THROWS(MetadataError, ModelMetadata::from_json(doc("", R"(, "grid_size": 100000)")), "grid_size");
  CHECK_THROWS(MetadataError, ModelMetadata::from_json(doc("", R"(, "tail_sha256": 7)")), "tail_sha256");
  CHECK_THROWS(MetadataError, ModelMetadata::from_json(doc("", R"(, "tile": {"size": 64, "overlap": 64})")),
               "tile.overlap");
  CHECK_THROWS(MetadataError,
               ModelMetadata::from_json(doc(R"(, "uint16": {"kind": "percentile", "low": -1, "high": 99})", "")),
               "input_mapping.uint16.low");
  CHECK_THROWS(MetadataError, ModelMetadata::from_json(doc(R"(, "std": [0, 1, 1])", "")), "input_mapping.std");
}

TEST_CASE(roi_fuse_of_constant_maps_is_the_sum) {
  // Constant levels c1, c2, c3: every in-map sample is the constant, so the
  // fused value is relu(c1 + c2 + c3) for a box well inside the maps.
  const roi::FeatureShape shapes[3] = {{1, 2, 16, 16}, {1, 2, 8, 8}, {1, 2, 4, 4}};
  std::vector<float> p1(2 * 16 * 16, 1.0f), p2(2 * 8 * 8, 2.0f), p3(2 * 4 * 4, -0.5f);
  const float* maps[3] = {p1.data(), p2.data(), p3.data()};
  const float strides[3] = {8, 16, 32};
  const float rois[5] = {0, 16, 16, 96, 96};
  std::vector<float> out(2 * 8 * 8);
  roi_fuse_cpu(maps, shapes, rois, 1, 8, strides, out.data(), 1);
  for (float v : out) CHECK_NEAR(v, 2.5, 1e-6);
  const float bad[5] = {1, 0, 0, 1, 1};
  CHECK_THROWS(InvalidArgument, roi_fuse_cpu(maps, shapes, bad, 1, 8, strides, out.data(), 1),
               "batch_index) must be an integer in [0, 1)");
  // a thread count beyond kMaxNumThreads is refused before any thread starts; the bound itself runs
  CHECK_THROWS(InvalidArgument, roi_fuse_cpu(maps, shapes, rois, 1, 8, strides, out.data(), kMaxNumThreads + 1),
               "roi_fuse: num_threads must be in [0, 1024] (0: one per hardware thread), got 1025");
  CHECK_THROWS(InvalidArgument, roi_fuse_cpu(maps, shapes, rois, 1, 8, strides, out.data(), -1),
               "got -1");
  std::fill(out.begin(), out.end(), 0.0f);
  roi_fuse_cpu(maps, shapes, rois, 1, 8, strides, out.data(), kMaxNumThreads);
  for (float v : out) CHECK_NEAR(v, 2.5, 1e-6);
}

// How often parallel_for(n, threads) visits each index of [0, n).
std::vector<int> visits(int64_t n, int threads) {
  std::vector<std::atomic<int>> seen(n);
  parallel_for(n, threads, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) seen[i].fetch_add(1);
  });
  std::vector<int> out;
  for (auto& v : seen) out.push_back(v.load());
  return out;
}

TEST_CASE(parallel_for_visits_every_index_once) {
  for (int threads : {1, 2, 3, 8})
    for (int64_t n : {1, 2, 7, 100})
      CHECK(visits(n, threads) == std::vector<int>(n, 1));
}

TEST_CASE(parallel_for_from_concurrent_and_nested_callers) {
  // Four callers at once: one gets the pool, the others threads of their
  // own; each inner call nests a parallel_for inside a worker's chunk.
  std::atomic<int> wrong{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; ++c)
    callers.emplace_back([&] {
      for (int round = 0; round < 50; ++round) {
        std::atomic<int64_t> total{0};
        parallel_for(6, 3, 1, [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i)
            for (int v : visits(10, 2)) total.fetch_add(v);
        });
        if (total.load() != 60) wrong.fetch_add(1);
      }
    });
  for (auto& t : callers) t.join();
  CHECK_EQ(wrong.load(), 0);
}

TEST_CASE(parallel_for_rethrows_a_chunk_exception_and_stays_usable) {
  CHECK_THROWS(std::runtime_error, parallel_for(8, 2, 1, [](int64_t begin, int64_t) {
                 if (begin >= 4) throw std::runtime_error("chunk failed");
               }),
               "chunk failed");
  CHECK(visits(8, 2) == std::vector<int>(8, 1));
}

#if defined(__linux__) && defined(__GLIBC__)
#include <sched.h>

// What a 2-way parallel_for saw: the caller's CPU (at the start of its
// chunk), and the worker's CPU set at the start and at the end of its chunk.
// The caller's chunk sleeps long enough for the worker to take its own; the
// worker's sleeps `worker_ms`.
struct PoolView {
  int caller_cpu = -1;
  cpu_set_t worker_start{}, worker_end{};
};

PoolView pool_view(int worker_ms) {
  PoolView v;
  parallel_for(2, 2, 1, [&](int64_t begin, int64_t) {
    if (begin == 0) {
      v.caller_cpu = sched_getcpu();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } else {
      sched_getaffinity(0, sizeof v.worker_start, &v.worker_start);
      std::this_thread::sleep_for(std::chrono::milliseconds(worker_ms));
      sched_getaffinity(0, sizeof v.worker_end, &v.worker_end);
    }
  });
  return v;
}

TEST_CASE(parallel_for_keeps_workers_off_the_callers_cpu_until_it_waits_for_them) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0 || CPU_COUNT(&allowed) < 2) return;
  pool_view(0);  // makes sure the worker exists: it is pinned from its next call on
  // The worker starts pinned off the caller's CPU and stays pinned through a
  // call in which the caller did not have to wait for it ...
  for (int round = 0; round < 2; ++round) {
    const PoolView quick = pool_view(0);
    CHECK(!CPU_ISSET(quick.caller_cpu, &quick.worker_start));
    CHECK_EQ(CPU_COUNT(&quick.worker_start), CPU_COUNT(&allowed) - 1);
  }
  // ... but the caller, done long before the worker (20 ms against 60),
  // releases it to every CPU while it waits ...
  const PoolView slow = pool_view(60);
  CHECK(!CPU_ISSET(slow.caller_cpu, &slow.worker_start));
  CHECK(CPU_EQUAL(&slow.worker_end, &allowed));
  // ... and pins it again on the next call.
  const PoolView again = pool_view(0);
  CHECK(!CPU_ISSET(again.caller_cpu, &again.worker_start));
}
#endif

CHECK_MAIN()
