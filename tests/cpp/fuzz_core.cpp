// The fuzz corpus against the C++ core (no ONNX Runtime): model metadata
// documents, the ROI kernels' validated entry points, frames through the
// 16-bit rule, the letterbox and preprocess_frames, and the whole Segmenter
// over a test backend (fuzz_pipeline.cpp). See fuzz_driver.h for how items
// are judged and docs/hardening.md for the job that runs it.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/input_mapping.h"
#include "core/letterbox.h"
#include "core/roi_ops.h"
#include "fassst/metadata.h"
#include "fassst/segmenter.h"
#include "fuzz_driver.h"
#include "fuzz_frames.h"
#include "fuzz_pipeline.h"

using namespace fuzz;
using fassst::ModelMetadata;

namespace {

std::string id_of(const Value& item) { return text(item, "id"); }

template <typename... Parts>
[[noreturn]] void violated(const Parts&... parts) {
  std::string s;
  (void)std::initializer_list<int>{(s += parts, 0)...};
  throw Violation(s);
}

// ---------------------------------------------------------------- metadata

bool finite3(const std::array<float, 3>& v) {
  return std::isfinite(v[0]) && std::isfinite(v[1]) && std::isfinite(v[2]);
}

// What the pipeline relies on in any metadata from_json accepts: every
// number finite and in the range the steps that use it can compute with.
void check_metadata(const ModelMetadata& m, const std::string& source) {
  auto bad = [&](const std::string& what) { violated("accepted metadata with ", what); };
  if (m.source != source) bad("source '" + m.source + "', expected '" + source + "'");
  if (m.input_size < 32) bad("input_size " + std::to_string(m.input_size));
  if (!finite3(m.mean)) bad("a non-finite mean");
  if (!finite3(m.std)) bad("a non-finite std");
  for (float s : m.std)
    if (!(s > 0.0f)) bad("std " + std::to_string(s));
  for (float s : m.strides)
    if (!(std::isfinite(s) && s > 0.0f && std::isfinite(1.0f / s)))
      bad("stride " + std::to_string(s) + " (1 / stride must be finite)");
  if (!(m.score_threshold >= 0.0f && m.score_threshold <= 1.0f)) bad("score_threshold out of [0, 1]");
  if (!(m.nms_threshold >= 0.0f && m.nms_threshold <= 1.0f)) bad("nms_threshold out of [0, 1]");
  if (m.grid_size < 1 || m.grid_size > 46340) bad("grid_size " + std::to_string(m.grid_size) + " (S^2 must fit an int)");
  if (m.mask_channels < 1) bad("mask_channels " + std::to_string(m.mask_channels));
  if (m.roi_size < 4 || m.roi_size % 4 || m.roi_size > INT_MAX / 2) bad("roi_size " + std::to_string(m.roi_size));
  if (m.max_instances < 0) bad("max_instances " + std::to_string(m.max_instances));
  if (m.class_names.empty()) bad("no class names");
  if (m.has_tile && !(m.tile_size >= 32 && m.tile_overlap >= 0 && m.tile_overlap < m.tile_size))
    bad("tile size " + std::to_string(m.tile_size) + " overlap " + std::to_string(m.tile_overlap));
  const fassst::Uint16Mapping& u = m.uint16;
  if (u.kind == "percentile") {
    if (!(u.low >= 0.0 && u.low <= 100.0 && u.high >= 0.0 && u.high <= 100.0))
      bad("percentiles " + std::to_string(u.low) + ", " + std::to_string(u.high) + " outside [0, 100]");
  } else if (u.kind == "window") {
    if (!(std::isfinite(u.min) && std::isfinite(u.max))) bad("a non-finite 16-bit window");
  } else if (!u.kind.empty() && u.kind != "identity") {
    bad("16-bit rule kind '" + u.kind + "'");
  }
}

void metadata_item(const Value& item) {
  std::string doc;
  if (has(item, "text")) {
    doc = text(item, "text");
  } else {
    const std::vector<uint8_t> bytes = from_hex(text(item, "hex"));
    doc.assign(bytes.begin(), bytes.end());
  }
  const std::string source = "corpus:" + id_of(item);
  judge(expect_of(item), [&] { check_metadata(ModelMetadata::from_json(doc, source), source); });
}

// ---------------------------------------------------------------- ROI kernels

constexpr int64_t kMaxFloats = int64_t{64} << 20;  // 256 MiB per buffer
constexpr uint32_t kGuardBits = 0x7fc0dead;        // a NaN no kernel writes
constexpr size_t kGuard = 64;

float guard_value() {
  float f;
  std::memcpy(&f, &kGuardBits, 4);
  return f;
}

bool guard_intact(const std::vector<float>& buf, size_t used) {
  for (size_t i = used; i < buf.size(); ++i) {
    uint32_t bits;
    std::memcpy(&bits, &buf[i], 4);
    if (bits != kGuardBits) return false;
  }
  return true;
}

// Product of the dimensions, or -1 when a dimension is < 1 or it exceeds
// the driver's buffers.
int64_t numel(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 1) return -1;
    if (d > kMaxFloats / n) return -2;
    n *= d;
  }
  return n;
}

std::vector<float> feature_map(int64_t n, const std::string& fill, std::mt19937_64& rng) {
  std::vector<float> map(static_cast<size_t>(n));
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  for (float& v : map) {
    if (fill == "random") v = unit(rng);
    else if (fill == "zeros") v = 0.0f;
    else if (fill == "nan") v = NAN;
    else if (fill == "inf") v = (rng() & 1) ? INFINITY : -INFINITY;
    else if (fill == "huge") v = (rng() & 1) ? 3e38f : -3e38f;
    else if (fill == "denormal") v = 1e-40f * unit(rng);
    else throw std::invalid_argument("corpus roi fill '" + fill + "' is unknown");
  }
  return map;
}

void roi_item(const Value& item) {
  const std::string op = text(item, "op");
  const bool fuse = op == "fuse";
  const Value& shapes_v = field(item, "shapes");
  const size_t levels = fuse ? 3 : 1;
  if (shapes_v.as_array().size() != levels) throw std::invalid_argument("corpus roi item: wrong number of shapes");
  std::mt19937_64 rng(seed_of(id_of(item)));
  const std::string fill = text(item, "fill");

  fassst::roi::FeatureShape shapes[3] = {};
  std::vector<std::vector<float>> maps(levels);
  for (size_t l = 0; l < levels; ++l) {
    std::vector<int64_t> dims;
    for (const Value& d : shapes_v.as_array()[l].as_array()) dims.push_back(as_integer(d, "shape"));
    if (dims.size() != 4) throw std::invalid_argument("corpus roi shape must have 4 dimensions");
    const int64_t n = numel(dims);
    if (n == -2) throw std::invalid_argument("corpus roi map larger than the driver's buffers");
    maps[l] = feature_map(n < 0 ? 1 : n, fill, rng);  // an invalid shape gets one float
    shapes[l] = fassst::roi::FeatureShape{dims[0], dims[1], static_cast<int>(dims[2]), static_cast<int>(dims[3])};
  }
  float strides[3];
  const auto& strides_v = field(item, "strides").as_array();
  for (size_t l = 0; l < levels; ++l) strides[l] = as_float(strides_v[l]);
  std::vector<float> rois;
  for (const Value& row : field(item, "rois").as_array())
    for (const Value& v : row.as_array()) rois.push_back(as_float(v));
  const int64_t k = static_cast<int64_t>(rois.size() / 5);
  const int out_size = static_cast<int>(integer(item, "out_size"));
  const int threads = static_cast<int>(integer(item, "threads"));

  int64_t out_floats = 0;
  if (k > 0) {
    out_floats = numel({k, std::max<int64_t>(1, shapes[0].channels), std::max(1, out_size), std::max(1, out_size)});
    if (out_floats < 0) throw std::invalid_argument("corpus roi output larger than the driver's buffers");
  }
  std::vector<float> out(static_cast<size_t>(out_floats) + kGuard, guard_value());

  judge(expect_of(item), [&] {
    if (fuse) {
      const float* ptrs[3] = {maps[0].data(), maps[1].data(), maps[2].data()};
      fassst::roi_fuse_cpu(ptrs, shapes, rois.data(), k, out_size, strides, out.data(), threads);
    } else {
      fassst::roi_crop_cpu(maps[0].data(), shapes[0], rois.data(), k, out_size, strides[0], out.data(), threads);
    }
    if (!guard_intact(out, static_cast<size_t>(out_floats))) violated("wrote past the K x C x S x S output");
    // Bilinear samples are convex combinations: a crop of maps in [-1, 1]
    // stays in [-1, 1]; a fusion relu(R1 + up2(R2 + up2(R3))) in [0, 3].
    for (int64_t i = 0; i < out_floats; ++i) {
      const float v = out[static_cast<size_t>(i)];
      if (fill == "zeros" && v != 0.0f) violated("output ", std::to_string(i), " = ", std::to_string(v), " from zero maps");
      if (fill == "random" && !(fuse ? (v >= 0.0f && v <= 3.0001f) : (v >= -1.0001f && v <= 1.0001f)))
        violated("output ", std::to_string(i), " = ", std::to_string(v), " outside the bounds of its inputs");
    }
  });
}

// ---------------------------------------------------------------- frames

fassst::Uint16Mapping rule_of(const Value& r) {
  fassst::Uint16Mapping m;
  m.kind = text(r, "kind");
  m.low = as_double(field(r, "low"));
  m.high = as_double(field(r, "high"));
  m.min = as_double(field(r, "min"));
  m.max = as_double(field(r, "max"));
  return m;
}

fassst::ImageView view_of(const FrameBytes& f) {
  fassst::ImageView v;
  v.data = f.data();
  v.width = f.width;
  v.height = f.height;
  v.stride = f.stride;
  v.format = static_cast<fassst::PixelFormat>(f.format);
  return v;
}

void preprocess_call(const Value& item, const FrameBytes& f) {
  ModelMetadata meta;
  meta.input_size = static_cast<int>(integer(item, "size"));
  meta.mean = {0.485f, 0.456f, 0.406f};
  meta.std = {0.229f, 0.224f, 0.225f};
  meta.uint16 = rule_of(field(item, "rule"));
  const fassst::NetworkInput in =
      fassst::preprocess_frames({view_of(f)}, meta, static_cast<int>(integer(item, "threads")));
  const int64_t plane = int64_t{meta.input_size} * meta.input_size;
  if (in.batch != 1 || in.size != meta.input_size || static_cast<int64_t>(in.data.size()) != 3 * plane)
    violated("preprocess_frames returned a network input of the wrong size");
  for (int c = 0; c < 3; ++c) {
    const float lo = (0.0f - meta.mean[c]) / meta.std[c] - 1e-4f, hi = (1.0f - meta.mean[c]) / meta.std[c] + 1e-4f;
    for (int64_t i = 0; i < plane; ++i) {
      const float v = in.data[static_cast<size_t>(c * plane + i)];
      if (!(v >= lo && v <= hi)) violated("network input value ", std::to_string(v), " outside (x / 255 - mean) / std");
    }
  }
}

void letterbox_call(const Value& item, const FrameBytes& f) {
  const int size = static_cast<int>(integer(item, "size"));
  const int channels = f.bytes_per_pixel;
  const int64_t out_bytes = size >= 1 ? int64_t{size} * size * channels : 0;
  if (out_bytes > (int64_t{256} << 20)) throw std::invalid_argument("corpus letterbox output too large");
  std::vector<uint8_t> dst(static_cast<size_t>(out_bytes) + kGuard, 0xA5);
  const int64_t stride = f.stride == 0 ? int64_t{f.width} * channels : f.stride;
  fassst::letterbox(static_cast<const uint8_t*>(f.data()), f.height, f.width, stride, channels, size, 114, dst.data(),
                    static_cast<int>(integer(item, "threads")));
  for (size_t i = static_cast<size_t>(out_bytes); i < dst.size(); ++i)
    if (dst[i] != 0xA5) violated("letterbox wrote past size x size x channels");
  // Bilinear output lies between the frame's extremes (or is the padding).
  const auto mm = std::minmax_element(f.bytes.begin(), f.bytes.end());
  for (int64_t i = 0; i < out_bytes; ++i) {
    const uint8_t v = dst[static_cast<size_t>(i)];
    if (v != 114 && (v < *mm.first || v > *mm.second))
      violated("letterbox output ", std::to_string(v), " outside the frame's range");
  }
}

void map16_call(const Value& item, const FrameBytes& f) {
  const fassst::Uint16Mapping rule = rule_of(field(item, "rule"));
  const int64_t n = int64_t{std::max(1, f.width)} * std::max(1, f.height);
  std::vector<uint8_t> dst(static_cast<size_t>(n) + kGuard, 0xA5);
  const int64_t stride = f.stride == 0 ? int64_t{f.width} * 2 : f.stride;
  fassst::map_uint16_to_uint8(static_cast<const uint16_t*>(f.data()), f.height, f.width, stride, rule, dst.data());
  for (size_t i = static_cast<size_t>(n); i < dst.size(); ++i)
    if (dst[i] != 0xA5) violated("the 16-bit rule wrote past width x height");
  // The mapping is monotone in the value; a window maps exactly by its formula.
  std::vector<std::pair<uint16_t, uint8_t>> pairs;
  for (int y = 0; y < f.height; ++y)
    for (int x = 0; x < f.width; ++x) {
      uint16_t v;
      std::memcpy(&v, f.bytes.data() + y * stride + 2 * x, 2);
      const uint8_t out = dst[static_cast<size_t>(int64_t{y} * f.width + x)];
      pairs.emplace_back(v, out);
      if (rule.kind == "window" && rule.max > rule.min) {
        const double t = std::min(1.0, std::max(0.0, (v - rule.min) / (rule.max - rule.min)));
        if (out != static_cast<uint8_t>(std::floor(t * 255.0 + 0.5)))
          violated("window rule maps ", std::to_string(v), " to ", std::to_string(out));
      }
    }
  std::sort(pairs.begin(), pairs.end());
  for (size_t i = 1; i < pairs.size(); ++i)
    if (pairs[i].second < pairs[i - 1].second) violated("the 16-bit rule is not monotone");
}

void frame_item(const Value& item) {
  const FrameBytes f = make_frame(field(item, "frame"), seed_of(id_of(item)));
  const std::string call = text(item, "call");
  judge(expect_of(item), [&] {
    if (call == "preprocess") preprocess_call(item, f);
    else if (call == "letterbox") letterbox_call(item, f);
    else if (call == "map16") map16_call(item, f);
    else throw std::invalid_argument("corpus frame call '" + call + "' is unknown");
  });
}

}  // namespace

int main(int argc, char** argv) {
  return fuzz::main(argc, argv,
                    {{"metadata", metadata_item}, {"roi", roi_item}, {"frames", frame_item},
                     {"pipeline", pipeline_item}});
}
