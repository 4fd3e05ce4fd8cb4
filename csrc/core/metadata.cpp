// The one validator of model metadata: the C++ API uses it directly, and
// fassst_rt.ModelMetadata through fassst_rt._C.parse_metadata.
#include "fassst/metadata.h"

#include <cmath>

#include "core/errors.h"
#include "core/json.h"
#include "core/metadata_document.h"
#include "core/roi_ops.h"

namespace fassst {
namespace {

class Reader {
 public:
  explicit Reader(const std::string& source) : source_(source) {}

  [[noreturn]] void fail(const std::string& what) const { throw MetadataError(source_ + ": " + what); }

  static std::string got(const json::Value* v) { return v ? v->repr() : "nothing"; }

  // An integer in [minimum, maximum] (booleans are not integers).
  int integer(const json::Value& obj, const char* key, int minimum, int maximum, const std::string& name,
              const int* fallback = nullptr) const {
    const json::Value* v = obj.find(key);
    if (!v && fallback) return *fallback;
    if (!v || !v->is_integer() || v->as_number() < minimum || v->as_number() > maximum)
      fail(message(name, " must be an integer in [", minimum, ", ", maximum, "], got ", got(v)));
    return static_cast<int>(v->as_number());
  }

  // Three numbers, each in [minimum, maximum] (finite).
  std::array<float, 3> floats3(const json::Value& obj, const char* key, const std::string& name, double minimum,
                               double maximum) const {
    const json::Value* v = obj.find(key);
    bool ok = v && v->is_array() && v->as_array().size() == 3;
    if (ok)
      for (const auto& item : v->as_array())
        ok = ok && item.is_number() && item.as_number() >= minimum && item.as_number() <= maximum;
    if (!ok) fail(message(name, " must be a list of 3 numbers in [", minimum, ", ", maximum, "], got ", got(v)));
    std::array<float, 3> out{};
    for (int i = 0; i < 3; ++i) out[i] = static_cast<float>(v->as_array()[i].as_number());
    return out;
  }

  float unit(const json::Value& obj, const char* key, float fallback) const {
    const json::Value* v = obj.find(key);
    if (!v) return fallback;
    if (!v->is_number() || !(v->as_number() >= 0.0 && v->as_number() <= 1.0))
      fail(message(key, " must be a number in [0, 1], got ", got(v)));
    return static_cast<float>(v->as_number());
  }

  double number(const json::Value& obj, const char* key, const std::string& name, double minimum,
                double maximum) const {
    const json::Value* v = obj.find(key);
    if (!v || !v->is_number() || !(v->as_number() >= minimum && v->as_number() <= maximum))
      fail(message(name, " must be a number in [", minimum, ", ", maximum, "], got ", got(v)));
    return v->as_number();
  }

 private:
  const std::string& source_;
};

}  // namespace

ModelMetadata ModelMetadata::from_json(const std::string& text, const std::string& source) {
  return metadata_from_document(json::parse(text, source), source);
}

ModelMetadata metadata_from_document(const json::Value& doc, const std::string& source) {
  const Reader r(source);
  if (!doc.is_object()) r.fail(message("expected a JSON object, got ", doc.repr()));
  ModelMetadata m;
  m.source = source;
  const json::Value* version = doc.find("version");
  if (!version || !version->is_integer() || version->as_number() != ModelMetadata::kFormatVersion)
    r.fail(message("metadata format version ", Reader::got(version),
                   " is not supported (this fassst_rt reads version ", ModelMetadata::kFormatVersion, ")"));
  m.input_size = r.integer(doc, "input_size", 32, kMaxInputSize, "input_size");

  const json::Value* mapping = doc.find("input_mapping");
  if (!mapping || !mapping->is_object())
    r.fail(message("input_mapping must be an object, got ", Reader::got(mapping)));
  if (const json::Value* order = mapping->find("channel_order")) {
    if (!order->is_string() || (order->as_string() != "rgb" && order->as_string() != "bgr"))
      r.fail(message("input_mapping.channel_order must be 'rgb' or 'bgr', got ", order->repr()));
    m.channel_order = order->as_string();
  }
  m.mean = r.floats3(*mapping, "mean", "input_mapping.mean", -1e3, 1e3);
  m.std = r.floats3(*mapping, "std", "input_mapping.std", 1e-6, 1e3);
  const json::Value* u16 = mapping->find("uint16");
  if (u16 && !u16->is_null()) {
    if (!u16->is_object()) r.fail("input_mapping.uint16 must be an object or null");
    const json::Value* kind = u16->find("kind");
    if (!kind || !kind->is_string())
      r.fail(message("input_mapping.uint16.kind must be a string, got ", Reader::got(kind)));
    m.uint16.kind = kind->as_string();
    if (m.uint16.kind == "percentile") {
      m.uint16.low = r.number(*u16, "low", "input_mapping.uint16.low", 0.0, 100.0);
      m.uint16.high = r.number(*u16, "high", "input_mapping.uint16.high", 0.0, 100.0);
    } else if (m.uint16.kind == "window") {
      m.uint16.min = r.number(*u16, "min", "input_mapping.uint16.min", 0.0, 65535.0);
      m.uint16.max = r.number(*u16, "max", "input_mapping.uint16.max", 0.0, 65535.0);
    } else if (m.uint16.kind != "identity") {
      r.fail(message("unknown 16-bit mapping rule ", u16->repr(), " (known kinds: percentile, window, identity)"));
    }
  }

  m.grid_size = r.integer(doc, "grid_size", 1, kMaxGridSize, "grid_size");
  m.mask_channels = r.integer(doc, "mask_channels", 1, kMaxMaskChannels, "mask_channels");
  m.roi_size = r.integer(doc, "roi_size", 4, kMaxRoiSize, "roi_size");
  if (m.roi_size % 4) r.fail(message("roi_size must be a multiple of 4, got ", m.roi_size));
  m.strides = r.floats3(doc, "strides", "strides", kMinStride, kMaxStride);
  if (const json::Value* rff = doc.find("rff")) {
    if (!rff->is_bool()) r.fail(message("rff must be true or false, got ", rff->repr()));
    m.rff = rff->as_bool();
  }
  const json::Value* names = doc.find("class_names");
  bool names_ok = names && names->is_array() && !names->as_array().empty();
  if (names_ok)
    for (const auto& n : names->as_array()) names_ok = names_ok && n.is_string();
  if (!names_ok || names->as_array().size() > kMaxClasses)
    r.fail(message("class_names must be a non-empty list of at most ", kMaxClasses, " strings, got ",
                   Reader::got(names)));
  for (const auto& n : names->as_array()) m.class_names.push_back(n.as_string());
  m.score_threshold = r.unit(doc, "score_threshold", 0.3f);
  m.nms_threshold = r.unit(doc, "nms_threshold", 0.5f);
  const json::Value* grid = doc.find("grid");
  if (grid && !grid->is_null()) {
    if (!grid->is_object()) r.fail(message("grid must be an object or null, got ", grid->repr()));
    const json::Value* kind = grid->find("kind");
    if (!kind || !kind->is_string() || kind->as_string() != "stride")
      r.fail(message("grid.kind must be 'stride', got ", Reader::got(kind)));
    m.stride_grid = true;
    m.grid_cell = r.integer(*grid, "cell", 1, kMaxInputSize, "grid.cell");
    m.grid_period = r.integer(*grid, "period", 32, kMaxInputSize, "grid.period");
    if (m.grid_period % 32 || m.grid_period % m.grid_cell)
      r.fail(message("grid.period must be a multiple of 32 and of grid.cell (", m.grid_cell, "), got ",
                     m.grid_period));
  }
  if (doc.find("input_scale")) {
    m.input_scale = static_cast<float>(r.number(doc, "input_scale", "input_scale", 1e-3, kMaxInputScale));
    if (!m.stride_grid && m.input_scale != 1.0f)
      r.fail(message("input_scale must be 1 for an S x S model (it applies to grid.kind 'stride'), got ",
                     m.input_scale));
  }
  const int default_max = m.stride_grid ? kStrideGridMaxInstances : m.grid_size * m.grid_size;
  m.max_instances = r.integer(doc, "max_instances", 0, kMaxInstances, "max_instances", &default_max);
  const json::Value* tile = doc.find("tile");
  if (tile && !tile->is_null()) {
    if (!tile->is_object()) r.fail("tile must be an object or null");
    m.has_tile = true;
    m.tile_size = r.integer(*tile, "size", 32, kMaxTileSize, "tile.size");
    m.tile_overlap = r.integer(*tile, "overlap", 0, m.tile_size - 1, "tile.overlap");
  }
  const json::Value* sha = doc.find("tail_sha256");
  if (sha && !sha->is_null()) {
    if (!sha->is_string()) r.fail(message("tail_sha256 must be a string or null, got ", sha->repr()));
    m.tail_sha256 = sha->as_string();
  }
  return m;
}

}  // namespace fassst
