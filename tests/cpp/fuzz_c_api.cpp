// The fuzz corpus against the C API (fassst/c_api.h), through libfassst_rt
// and ONNX Runtime: call sequences with bad arguments, hostile frames, and
// hostile model files (the tiny test model's graphs with another metadata
// document spliced in, tails that are links to /dev/zero, FIFOs,
// directories...). Each step names the status it expects; every failed call
// must leave a message in fassst_last_error() (naming the argument where the
// step says which), every successful one an empty message.
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "fassst/c_api.h"
#include "fuzz_driver.h"
#include "fuzz_frames.h"

using namespace fuzz;

namespace {

// ---------------------------------------------------------------- model files

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
  if (!out) throw std::runtime_error("cannot write " + path);
}

uint64_t read_varint(const std::string& b, size_t* pos) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*pos >= b.size()) throw std::runtime_error("truncated varint in the test model");
    const uint8_t byte = static_cast<uint8_t>(b[(*pos)++]);
    v |= static_cast<uint64_t>(byte & 0x7F) << shift;
    if (!(byte & 0x80)) return v;
  }
  throw std::runtime_error("overlong varint in the test model");
}

void write_varint(std::string* out, uint64_t v) {
  do {
    out->push_back(static_cast<char>((v & 0x7F) | (v > 0x7F ? 0x80 : 0)));
    v >>= 7;
  } while (v);
}

void write_bytes_field(std::string* out, int field, const std::string& bytes) {
  write_varint(out, static_cast<uint64_t>(field) << 3 | 2);
  write_varint(out, bytes.size());
  out->append(bytes);
}

// The key of a serialised onnx.StringStringEntryProto (field 1).
std::string entry_key(const std::string& entry) {
  size_t pos = 0;
  while (pos < entry.size()) {
    const uint64_t tag = read_varint(entry, &pos);
    if ((tag & 7) != 2) return "";
    const uint64_t len = read_varint(entry, &pos);
    if ((tag >> 3) == 1) return entry.substr(pos, len);
    pos += len;
  }
  return "";
}

// The serialised ModelProto `model` with its "fassst" metadata_props entry
// (field 14) replaced by one holding `doc`. Top-level fields are copied as
// they are; protobuf readers accept repeated fields in any order.
std::string with_metadata(const std::string& model, const std::string& doc) {
  std::string out;
  size_t pos = 0;
  while (pos < model.size()) {
    const size_t start = pos;
    const uint64_t tag = read_varint(model, &pos);
    switch (tag & 7) {
      case 0: read_varint(model, &pos); break;
      case 1: pos += 8; break;
      case 5: pos += 4; break;
      case 2: {
        const uint64_t len = read_varint(model, &pos);
        const std::string payload = model.substr(pos, len);
        pos += len;
        if ((tag >> 3) == 14 && entry_key(payload) == "fassst") continue;
        break;
      }
      default: throw std::runtime_error("unexpected wire type in the test model");
    }
    out.append(model, start, pos - start);
  }
  std::string entry;
  write_bytes_field(&entry, 1, "fassst");
  write_bytes_field(&entry, 2, doc);
  write_bytes_field(&out, 14, entry);
  return out;
}

// A fresh directory per item, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string templ = std::string(base && *base ? base : "/tmp") + "/fassst_fuzz_XXXXXX";
    if (!mkdtemp(&templ[0])) throw std::runtime_error("mkdtemp failed");
    path_ = templ;
  }
  ~TempDir() { remove_tree(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void link_to(const std::string& target, const std::string& link) {
  if (symlink(target.c_str(), link.c_str()) != 0) throw std::runtime_error("symlink " + link + " failed");
}

// Lays out the model a create step names in `dir`; returns the path to pass
// (empty: pass NULL).
std::string prepare_model(const Value& step, const TempDir& dir, bool* null_path) {
  *null_path = false;
  const Value& m = field(step, "model");
  if (m.is_null()) {
    *null_path = true;
    return "";
  }
  const std::string kind = m.as_string();
  const std::string tiny = FASSST_TEST_TINY_MODEL, tiny_tail = FASSST_TEST_TINY_TAIL;
  const std::string frame = dir.path() + "/m.onnx", tail = dir.path() + "/m.tail.onnx";
  if (kind == "tiny") return tiny;
  if (kind == "") return "";
  if (kind == "missing") return dir.path() + "/missing.onnx";
  if (kind == "directory") {
    mkdir(frame.c_str(), 0700);
    return frame;
  }
  if (kind == "suffix") {
    write_file(dir.path() + "/m.bin", "x");
    return dir.path() + "/m.bin";
  }
  if (kind == "doc") {
    std::string doc;
    if (has(step, "doc_text")) {
      doc = text(step, "doc_text");
    } else {
      const std::vector<uint8_t> bytes = from_hex(text(step, "doc_hex"));
      doc.assign(bytes.begin(), bytes.end());
    }
    write_file(frame, with_metadata(read_file(tiny), doc));
    link_to(tiny_tail, tail);
    return frame;
  }
  if (kind.compare(0, 5, "tail_") == 0) {
    link_to(tiny, frame);
    if (kind == "tail_missing") return frame;
    if (kind == "tail_directory") mkdir(tail.c_str(), 0700);
    else if (kind == "tail_empty") write_file(tail, "");
    else if (kind == "tail_devzero") link_to("/dev/zero", tail);
    else if (kind == "tail_fifo") mkfifo(tail.c_str(), 0600);
    else if (kind == "tail_swapped") link_to(tiny, tail);
    else throw std::invalid_argument("corpus model kind '" + kind + "' is unknown");
    return frame;
  }
  if (kind.compare(0, 6, "frame_") == 0) {
    link_to(tiny_tail, tail);
    if (kind == "frame_devzero") {
      link_to("/dev/zero", frame);
    } else if (kind == "frame_empty") {
      write_file(frame, "");
    } else if (kind == "frame_truncated") {
      const std::string bytes = read_file(tiny);
      write_file(frame, bytes.substr(0, bytes.size() / 2));
    } else if (kind == "frame_garbage") {
      std::mt19937_64 rng(seed_of(kind));
      std::string bytes(4096, '\0');
      for (char& c : bytes) c = static_cast<char>(rng());
      write_file(frame, bytes);
    } else {
      throw std::invalid_argument("corpus model kind '" + kind + "' is unknown");
    }
    return frame;
  }
  throw std::invalid_argument("corpus model kind '" + kind + "' is unknown");
}

// ---------------------------------------------------------------- steps

const char* status_name(fassst_status s) {
  switch (s) {
    case FASSST_OK: return "ok";
    case FASSST_ERROR_INVALID_ARGUMENT: return "invalid_argument";
    case FASSST_ERROR_MODEL: return "model";
    case FASSST_ERROR_METADATA: return "metadata";
    case FASSST_ERROR_BACKEND: return "backend";
    case FASSST_ERROR_CUDA: return "cuda";
    case FASSST_ERROR_OUT_OF_MEMORY: return "out_of_memory";
    case FASSST_ERROR_INTERNAL: return "internal";
  }
  return "unknown";
}

// Checks a status against the step's "expect" (a status name, "error": any
// failure but an internal one, "either"; "model" also accepts "metadata",
// its subclass) and the message fassst_last_error() leaves.
void check_status(const Value& step, fassst_status got, const std::string& what) {
  const std::string want = text(step, "expect");
  const std::string name = status_name(got);
  const std::string message = fassst_last_error();
  const std::string where = what + ": " + name + (message.empty() ? "" : " (" + message + ")");
  if (got == FASSST_ERROR_INTERNAL || got == FASSST_ERROR_OUT_OF_MEMORY)
    throw Violation(where + ": an internal error or an unbounded allocation, never a caller's mistake");
  const bool ok = got == FASSST_OK;
  if (want == "ok" && !ok) throw Violation(where + ", expected ok");
  if (want == "error" && ok) throw Violation(where + ", expected an error");
  if (want != "ok" && want != "error" && want != "either" && name != want &&
      !(want == "model" && got == FASSST_ERROR_METADATA))
    throw Violation(where + ", expected " + want);
  if (ok != message.empty()) throw Violation(where + ": fassst_last_error() must be empty exactly after a success");
  if (!ok && has(step, "mentions") && message.find(text(step, "mentions")) == std::string::npos)
    throw Violation(where + ": the message does not name '" + text(step, "mentions") + "'");
}

fassst_options options_of(const Value& o, std::vector<std::string>* strings) {
  fassst_options opt;
  fassst_options_init(&opt);
  strings->reserve(2);
  auto str = [&](const char* key) -> const char* {
    if (!has(o, key)) return nullptr;
    strings->push_back(text(o, key));
    return strings->back().c_str();
  };
  opt.backend = str("backend");
  opt.device = str("device");
  opt.num_threads = static_cast<int>(integer(o, "num_threads"));
  opt.score_threshold = as_float(field(o, "score_threshold"));
  opt.nms_threshold = as_float(field(o, "nms_threshold"));
  opt.max_instances = static_cast<int>(integer(o, "max_instances"));
  opt.tiling = static_cast<int>(integer(o, "tiling"));
  opt.tile_size = static_cast<int>(integer(o, "tile_size"));
  opt.tile_overlap = static_cast<int>(integer(o, "tile_overlap"));
  return opt;
}

struct State {
  TempDir dir;
  fassst_segmenter* seg = nullptr;
  bool created = false;
  std::vector<fassst_result*> results;
  ~State() {
    for (fassst_result* r : results) fassst_result_release(r);
    fassst_segmenter_destroy(seg);
  }
  fassst_result* result() const { return results.empty() ? nullptr : results.back(); }
};

void create_step(const Value& step, State* st) {
  bool null_path = false;
  const std::string path = prepare_model(step, st->dir, &null_path);
  std::vector<std::string> strings;
  fassst_options opt;
  const fassst_options* opt_ptr = nullptr;
  const Value& o = field(step, "options");
  if (o.is_object()) {
    opt = options_of(o, &strings);
    opt_ptr = &opt;
  } else if (!o.is_null() && !(o.is_string() && o.as_string() == "null")) {
    throw std::invalid_argument("corpus create options must be an object or null");
  }
  fassst_segmenter* seg = nullptr;
  const bool out_null = has(step, "out_null") && boolean(step, "out_null");
  const fassst_status s = fassst_segmenter_create(null_path ? nullptr : path.c_str(), opt_ptr, out_null ? nullptr : &seg);
  if (seg) {  // owned by the state before any check can throw
    fassst_segmenter_destroy(st->seg);
    st->seg = seg;
    st->created = true;
  }
  check_status(step, s, "fassst_segmenter_create");
  if ((s == FASSST_OK) != (seg != nullptr) && !out_null) throw Violation("create: *out must be set exactly on success");
  if (seg && fassst_segmenter_num_classes(seg) < 1) throw Violation("a created segmenter has no classes");
}

void run_step(const Value& step, State* st) {
  if (has(step, "when_created") && boolean(step, "when_created") && !st->created) return;
  const bool null_segmenter = has(step, "segmenter") && text(step, "segmenter") == "null";
  if (!null_segmenter && !st->seg) throw std::invalid_argument("corpus run step before a successful create");
  const Value& im = field(step, "image");
  FrameBytes frame;
  fassst_image image{};
  if (!im.is_null()) {
    frame = make_frame(im, seed_of(text(im, "fill")) ^ static_cast<uint64_t>(st->results.size()));
    image.data = frame.data();
    image.width = frame.width;
    image.height = frame.height;
    image.stride = frame.stride;
    // Any int, as a C caller can pass: the C API must not trust the enum.
    const int code = frame.format;
    std::memcpy(&image.format, &code, sizeof code);
  }
  fassst_result* res = nullptr;
  const bool out_null = has(step, "out_null") && boolean(step, "out_null");
  const fassst_status s = fassst_segmenter_run(null_segmenter ? nullptr : st->seg, im.is_null() ? nullptr : &image,
                                               out_null ? nullptr : &res);
  if (res) st->results.push_back(res);  // owned by the state before any check can throw
  check_status(step, s, "fassst_segmenter_run");
  if ((s == FASSST_OK) != (res != nullptr) && !out_null) throw Violation("run: *out must be set exactly on success");
  if (res && (fassst_result_image_width(res) != image.width || fassst_result_image_height(res) != image.height))
    throw Violation("the result's image size differs from the frame's");
}

void inspect_step(const State& st) {
  const fassst_result* r = st.result();
  if (!r) throw std::invalid_argument("corpus inspect step without a result");
  const size_t k = fassst_result_count(r);
  const int sm = fassst_result_mask_size(r);
  const float *boxes = fassst_result_boxes(r), *scores = fassst_result_scores(r);
  const int64_t* labels = fassst_result_labels(r);
  const float *masks = fassst_result_box_masks(r), *mask_boxes = fassst_result_mask_boxes(r);
  if (sm < 1) throw Violation("mask size " + std::to_string(sm));
  const float w = static_cast<float>(fassst_result_image_width(r)), h = static_cast<float>(fassst_result_image_height(r));
  for (size_t i = 0; i < k; ++i) {
    for (int j = 0; j < 4; ++j)
      if (!(boxes[4 * i + j] >= 0.0f && boxes[4 * i + j] <= (j % 2 ? h : w)) || !std::isfinite(mask_boxes[4 * i + j]))
        throw Violation("box " + std::to_string(i) + " outside the frame or not finite");
    if (!(scores[i] >= 0.0f && scores[i] <= 1.0f)) throw Violation("score outside [0, 1]");
    if (labels[i] < 0 || labels[i] >= fassst_segmenter_num_classes(st.seg)) throw Violation("label out of range");
    if (!fassst_result_class_name(r, i)) throw Violation("no class name for instance " + std::to_string(i));
    for (int64_t p = 0; p < int64_t{sm} * sm; ++p)
      if (!(masks[i * sm * sm + p] >= 0.0f && masks[i * sm * sm + p] <= 1.0f)) throw Violation("mask probability outside [0, 1]");
  }
  if (fassst_result_class_name(r, k) != nullptr) throw Violation("a class name past the instance count");
  for (const char* stage : {"preprocess", "frame", "select", "rff_tail"})
    if (!(fassst_result_timing(r, stage) >= 0.0)) throw Violation(std::string("no timing for ") + stage);
}

void paste_step(const Value& step, const State& st) {
  const fassst_result* r = st.result();
  if (!r) throw std::invalid_argument("corpus paste step without a result");
  const size_t need = static_cast<size_t>(fassst_result_image_width(r)) * fassst_result_image_height(r);
  const std::string size_kind = text(step, "out_size");
  std::vector<uint8_t> out(need + 64, 0xA5);
  const size_t out_size = size_kind == "small" ? need / 2 : need;
  const double index_d = as_double(field(step, "index"));
  const size_t index = index_d >= 1.8e19 ? SIZE_MAX : static_cast<size_t>(index_d);
  const fassst_status s = fassst_result_paste_mask(r, index, as_float(field(step, "threshold")),
                                                   size_kind == "null" ? nullptr : out.data(), out_size);
  check_status(step, s, "fassst_result_paste_mask");
  for (size_t i = need; i < out.size(); ++i)
    if (out[i] != 0xA5) throw Violation("paste_mask wrote past height x width");
  if (s == FASSST_OK)
    for (size_t i = 0; i < need; ++i)
      if (out[i] > 1) throw Violation("paste_mask wrote a value other than 0 / 1");
}

void class_names_step(const Value& step, const State& st) {
  const int n = fassst_segmenter_num_classes(st.seg);
  for (const Value& l : field(step, "labels").as_array()) {
    const int label = static_cast<int>(as_integer(l, "label"));
    const bool valid = label >= 0 && label < n;
    if ((fassst_segmenter_class_name(st.seg, label) != nullptr) != valid)
      throw Violation("fassst_segmenter_class_name(" + std::to_string(label) + ") with " + std::to_string(n) + " classes");
  }
}

void timing_step(const Value& step, const State& st) {
  for (const Value& s : field(step, "stages").as_array()) {
    const double t = fassst_result_timing(st.result(), s.is_null() ? nullptr : s.as_string().c_str());
    const bool known = s.is_string() && (s.as_string() == "frame");
    if (known != (t >= 0.0)) throw Violation("fassst_result_timing of a stage that does " + std::string(known ? "" : "not ") + "exist");
  }
}

void null_accessors_step() {
  if (fassst_segmenter_num_classes(nullptr) != 0 || fassst_segmenter_class_name(nullptr, 0) != nullptr ||
      fassst_result_count(nullptr) != 0 || fassst_result_image_width(nullptr) != 0 ||
      fassst_result_image_height(nullptr) != 0 || fassst_result_boxes(nullptr) != nullptr ||
      fassst_result_scores(nullptr) != nullptr || fassst_result_labels(nullptr) != nullptr ||
      fassst_result_class_name(nullptr, 0) != nullptr || fassst_result_mask_size(nullptr) != 0 ||
      fassst_result_box_masks(nullptr) != nullptr || fassst_result_mask_boxes(nullptr) != nullptr ||
      fassst_result_timing(nullptr, "frame") >= 0.0)
    throw Violation("an accessor given NULL returned something");
  uint8_t out[4];
  if (fassst_result_paste_mask(nullptr, 0, 0.5f, out, 4) != FASSST_ERROR_INVALID_ARGUMENT)
    throw Violation("fassst_result_paste_mask(NULL) is not an invalid argument");
  if (std::string(fassst_last_error()).find("result") == std::string::npos)
    throw Violation("the message of fassst_result_paste_mask(NULL) does not name 'result'");
  fassst_options_init(nullptr);
  if (!fassst_version() || !*fassst_version()) throw Violation("no version");
}

void status_strings_step(const Value& step) {
  for (const Value& c : field(step, "codes").as_array()) {
    const int code = static_cast<int>(as_integer(c, "code"));
    fassst_status s;
    std::memcpy(&s, &code, sizeof code);  // any int, as a C caller can pass
    const char* text = fassst_status_string(s);
    if (!text || !*text) throw Violation("fassst_status_string(" + std::to_string(code) + ") is empty");
  }
}

void c_api_item(const Value& item) {
  State st;
  for (const Value& step : field(item, "steps").as_array()) {
    const std::string call = text(step, "call");
    if (call == "create") create_step(step, &st);
    else if (call == "run") run_step(step, &st);
    else if (call == "inspect") inspect_step(st);
    else if (call == "paste") paste_step(step, st);
    else if (call == "class_names") class_names_step(step, st);
    else if (call == "timing") timing_step(step, st);
    else if (call == "null_accessors") null_accessors_step();
    else if (call == "status_strings") status_strings_step(step);
    else if (call == "destroy_null") fassst_segmenter_destroy(nullptr), fassst_result_release(nullptr);
    else throw std::invalid_argument("corpus C API call '" + call + "' is unknown");
  }
}

}  // namespace

int main(int argc, char** argv) { return fuzz::main(argc, argv, {{"c_api", c_api_item}}); }
