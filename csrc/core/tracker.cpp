// fassst::Tracker: ByteTrack's association (Zhang et al., ECCV 2022) over a
// constant-velocity Kalman motion model, written from the paper's
// description (docs/tracking.md).
#include "core/tracker.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "core/assignment.h"
#include "core/errors.h"
#include "core/kalman_box.h"
#include "core/select.h"

namespace fassst {

namespace {

void check_unit(const char* name, float value) {
  if (!(value >= 0.0f && value <= 1.0f))
    throw InvalidArgument(message("TrackerOptions: ", name, " must be in [0, 1], got ", value));
}

void check_fraction(const char* name, float value) {
  if (!(value > 0.0f && value <= 1.0f))
    throw InvalidArgument(message("TrackerOptions: ", name, " must be in (0, 1], got ", value));
}

void check_count(const char* name, int value) {
  if (value < 1) throw InvalidArgument(message("TrackerOptions: ", name, " must be >= 1, got ", value));
}

}  // namespace

void validate_tracker_options(const TrackerOptions& o) {
  check_unit("high_threshold", o.high_threshold);
  check_unit("low_threshold", o.low_threshold);
  check_unit("new_track_threshold", o.new_track_threshold);
  check_unit("match_iou", o.match_iou);
  check_unit("low_match_iou", o.low_match_iou);
  check_unit("mask_threshold", o.mask_threshold);
  if (o.low_threshold > o.high_threshold)
    throw InvalidArgument(message("TrackerOptions: low_threshold must be <= high_threshold (", o.high_threshold,
                                  "), got ", o.low_threshold));
  check_fraction("position_noise", o.position_noise);
  check_fraction("velocity_noise", o.velocity_noise);
  check_count("min_hits", o.min_hits);
  check_count("max_age", o.max_age);
}

double box_mask_iou(const BoxMask& a, const BoxMask& b) {
  const double aw = std::max(0.0f, a.box[2] - a.box[0]), ah = std::max(0.0f, a.box[3] - a.box[1]);
  const double bw = std::max(0.0f, b.box[2] - b.box[0]), bh = std::max(0.0f, b.box[3] - b.box[1]);
  if (a.size < 1 || b.size < 1 || aw <= 0 || ah <= 0 || bw <= 0 || bh <= 0) return 0.0;
  auto area = [](const BoxMask& m, double w, double h) {
    const int64_t n = static_cast<int64_t>(m.size) * m.size;
    const int64_t inside = n - std::count(m.cells, m.cells + n, uint8_t{0});
    return static_cast<double>(inside) * w * h / static_cast<double>(n);
  };
  const double area_a = area(a, aw, ah), area_b = area(b, bw, bh);
  if (area_a <= 0 || area_b <= 0) return 0.0;
  const double x1 = std::max(a.box[0], b.box[0]), x2 = std::min(a.box[2], b.box[2]);
  const double y1 = std::max(a.box[1], b.box[1]), y2 = std::min(a.box[3], b.box[3]);
  if (x2 <= x1 || y2 <= y1) return 0.0;
  // Samples no coarser than the finer mask's cells, so neither mask is
  // undersampled; over the overlap that is at most about size^2 samples.
  const double step_x = std::min(aw / a.size, bw / b.size), step_y = std::min(ah / a.size, bh / b.size);
  const int nx = static_cast<int>(std::min(4096.0, std::max(1.0, std::ceil((x2 - x1) / step_x))));
  const int ny = static_cast<int>(std::min(4096.0, std::max(1.0, std::ceil((y2 - y1) / step_y))));
  auto cell = [](double v, double lo, double extent, int size) {
    const int c = static_cast<int>(std::floor((v - lo) / extent * size));
    return std::min(std::max(c, 0), size - 1);
  };
  std::vector<int> ax(nx), bx(nx);
  for (int i = 0; i < nx; ++i) {
    const double x = x1 + (i + 0.5) * (x2 - x1) / nx;
    ax[i] = cell(x, a.box[0], aw, a.size);
    bx[i] = cell(x, b.box[0], bw, b.size);
  }
  int64_t both = 0;
  for (int j = 0; j < ny; ++j) {
    const double y = y1 + (j + 0.5) * (y2 - y1) / ny;
    const uint8_t* row_a = a.cells + static_cast<int64_t>(cell(y, a.box[1], ah, a.size)) * a.size;
    const uint8_t* row_b = b.cells + static_cast<int64_t>(cell(y, b.box[1], bh, b.size)) * b.size;
    for (int i = 0; i < nx; ++i) both += (row_a[ax[i]] != 0 && row_b[bx[i]] != 0) ? 1 : 0;
  }
  const double inter = static_cast<double>(both) * (x2 - x1) * (y2 - y1) / (static_cast<double>(nx) * ny);
  const double iou = inter / (area_a + area_b - inter);
  return std::min(1.0, std::max(0.0, iou));
}

namespace {

struct Track {
  int64_t id = -1;  // > 0 once confirmed
  int64_t label = 0;
  KalmanBox motion;
  float score = 0;
  int hits = 0;
  int misses = 0;
  int64_t first_frame = 0, last_frame = 0;
  // The last matched detection's box and, when it had one, its binarised
  // box mask: the mask moves and scales with the motion model's box.
  float det_box[4] = {0, 0, 0, 0};
  std::vector<uint8_t> mask;
  int mask_size = 0;
  float mask_box[4] = {0, 0, 0, 0};
  // This frame: the motion model's box and the mask box moved with it.
  float predicted[4] = {0, 0, 0, 0};
  float predicted_mask_box[4] = {0, 0, 0, 0};

  Track(const float* box, const TrackerOptions& o) : motion(box, o.position_noise, o.velocity_noise) {}
  bool confirmed() const { return id > 0; }
};

// One frame's detections after checks, with masks binarised.
struct Frame {
  const Detections& d;
  std::vector<uint8_t> masks;  // count x size x size, or empty
  bool has_masks() const { return !masks.empty(); }
  const float* box(int i) const { return d.boxes + 4 * static_cast<int64_t>(i); }
};

void check_detections(const Detections& d) {
  if (d.count < 0) throw InvalidArgument(message("Tracker.update: detections.count must be >= 0, got ", d.count));
  if (d.count == 0) return;
  if (d.boxes == nullptr || d.scores == nullptr || d.labels == nullptr)
    throw InvalidArgument("Tracker.update: detections need boxes, scores and labels (got a null pointer)");
  if (d.box_masks != nullptr && (d.mask_boxes == nullptr || d.mask_size < 1))
    throw InvalidArgument(message("Tracker.update: box_masks need mask_boxes and mask_size >= 1, got mask_size ",
                                  d.mask_size, d.mask_boxes == nullptr ? " and no mask_boxes" : ""));
  for (int64_t i = 0; i < d.count; ++i) {
    const float* b = d.boxes + 4 * i;
    if (!(std::isfinite(b[0]) && std::isfinite(b[1]) && std::isfinite(b[2]) && std::isfinite(b[3]) &&
          b[2] >= b[0] && b[3] >= b[1]))
      throw InvalidArgument(message("Tracker.update: boxes must be finite x1, y1, x2, y2 with x2 >= x1 and y2 >= y1, "
                                    "got (", b[0], ", ", b[1], ", ", b[2], ", ", b[3], ") for detection ", i));
    if (!(d.scores[i] >= 0.0f && d.scores[i] <= 1.0f))
      throw InvalidArgument(message("Tracker.update: scores must be in [0, 1], got ", d.scores[i],
                                    " for detection ", i));
    if (d.labels[i] < 0)
      throw InvalidArgument(message("Tracker.update: labels must be >= 0, got ", d.labels[i], " for detection ", i));
    if (d.box_masks != nullptr) {
      const float* m = d.mask_boxes + 4 * i;
      if (!(std::isfinite(m[0]) && std::isfinite(m[1]) && std::isfinite(m[2]) && std::isfinite(m[3])))
        throw InvalidArgument(message("Tracker.update: mask_boxes must be finite, got a non-finite value for "
                                      "detection ", i));
    }
  }
}

// Detection indices in an order that depends on the detections' values
// only (score descending, then box, then label), so that the tracker's
// result cannot depend on the order a frame lists them in.
std::vector<int> canonical_order(const Detections& d) {
  std::vector<int> order(static_cast<size_t>(d.count));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    if (d.scores[a] != d.scores[b]) return d.scores[a] > d.scores[b];
    for (int k = 0; k < 4; ++k)
      if (d.boxes[4 * a + k] != d.boxes[4 * b + k]) return d.boxes[4 * a + k] < d.boxes[4 * b + k];
    return d.labels[a] < d.labels[b];
  });
  return order;
}

// Where a mask box drawn around `from` lies around `to` (same relative
// place and scale).
void carry_box(const float* mask_box, const float* from, const float* to, float* out) {
  for (int axis = 0; axis < 2; ++axis) {
    const double from_c = 0.5 * (from[axis] + from[axis + 2]), to_c = 0.5 * (to[axis] + to[axis + 2]);
    const double from_s = from[axis + 2] - from[axis], to_s = to[axis + 2] - to[axis];
    const double scale = from_s > 0 && to_s > 0 ? to_s / from_s : 1.0;
    out[axis] = static_cast<float>(to_c + (mask_box[axis] - from_c) * scale);
    out[axis + 2] = static_cast<float>(to_c + (mask_box[axis + 2] - from_c) * scale);
  }
}

}  // namespace

struct Tracker::State {
  TrackerOptions options;
  std::vector<Track> tracks;  // in order of birth
  int64_t frame = 0;
  int64_t next_id = 1;

  // IoU of each track (rows) with each detection (columns); -1 where the
  // labels forbid the pair.
  std::vector<double> iou_matrix(const std::vector<int>& rows, const std::vector<int>& cols, const Frame& f) const {
    std::vector<double> iou(rows.size() * cols.size());
    const int64_t cells = static_cast<int64_t>(f.d.mask_size) * f.d.mask_size;
    for (size_t r = 0; r < rows.size(); ++r) {
      const Track& t = tracks[rows[r]];
      for (size_t c = 0; c < cols.size(); ++c) {
        const int det = cols[c];
        double value;
        if (options.class_aware && f.d.labels[det] != t.label) {
          value = -1.0;
        } else if (options.use_masks && f.has_masks() && !t.mask.empty()) {
          const BoxMask a{t.mask.data(), t.mask_size,
                          {t.predicted_mask_box[0], t.predicted_mask_box[1], t.predicted_mask_box[2],
                           t.predicted_mask_box[3]}};
          const float* mb = f.d.mask_boxes + 4 * static_cast<int64_t>(det);
          const BoxMask b{f.masks.data() + det * cells, f.d.mask_size, {mb[0], mb[1], mb[2], mb[3]}};
          value = box_mask_iou(a, b);
        } else {
          value = box_iou(t.predicted, f.box(det));
        }
        iou[r * cols.size() + c] = value;
      }
    }
    return iou;
  }

  // Matches `rows` (track indices) with `cols` (detection indices); the
  // matched ones are taken out of both lists.
  std::vector<std::pair<int, int>> associate(std::vector<int>& rows, std::vector<int>& cols, double min_iou,
                                             const Frame& f) const {
    std::vector<std::pair<int, int>> out;
    if (rows.empty() || cols.empty()) return out;
    const std::vector<double> iou = iou_matrix(rows, cols, f);
    std::vector<char> row_taken(rows.size(), 0), col_taken(cols.size(), 0);
    for (const auto& p : match_by_iou(iou, static_cast<int>(rows.size()), static_cast<int>(cols.size()), min_iou)) {
      out.emplace_back(rows[p.first], cols[p.second]);
      row_taken[p.first] = col_taken[p.second] = 1;
    }
    auto drop = [](std::vector<int>& v, const std::vector<char>& taken) {
      std::vector<int> kept;
      for (size_t i = 0; i < v.size(); ++i)
        if (!taken[i]) kept.push_back(v[i]);
      v.swap(kept);
    };
    drop(rows, row_taken);
    drop(cols, col_taken);
    return out;
  }

  // Records detection `det` as track t's on this frame; `observe` corrects
  // the motion model with it (not for a track it has just started).
  void take(Track& t, int det, const Frame& f, bool observe = true) {
    const float* box = f.box(det);
    if (observe) t.motion.update(box);
    std::copy(box, box + 4, t.det_box);
    t.score = f.d.scores[det];
    if (!options.class_aware) t.label = f.d.labels[det];
    t.hits += 1;
    t.misses = 0;
    t.last_frame = frame;
    if (f.has_masks()) {
      const int64_t cells = static_cast<int64_t>(f.d.mask_size) * f.d.mask_size;
      t.mask.assign(f.masks.begin() + det * cells, f.masks.begin() + (det + 1) * cells);
      t.mask_size = f.d.mask_size;
      std::copy(f.d.mask_boxes + 4 * static_cast<int64_t>(det), f.d.mask_boxes + 4 * static_cast<int64_t>(det) + 4,
                t.mask_box);
    } else {
      t.mask.clear();
      t.mask_size = 0;
    }
  }
};

Tracker::Tracker(const TrackerOptions& options) : state_(new State()) {
  validate_tracker_options(options);
  state_->options = options;
}

Tracker::~Tracker() = default;
Tracker::Tracker(Tracker&&) noexcept = default;
Tracker& Tracker::operator=(Tracker&&) noexcept = default;

const TrackerOptions& Tracker::options() const { return state_->options; }
int64_t Tracker::frame_count() const { return state_->frame; }

void Tracker::reset() {
  state_->tracks.clear();
  state_->frame = 0;
  state_->next_id = 1;
}

std::vector<int64_t> Tracker::update(const Detections& d) {
  check_detections(d);
  State& s = *state_;
  const TrackerOptions& o = s.options;
  Frame f{d, {}};
  if (o.use_masks && d.box_masks != nullptr && d.count > 0) {
    const int64_t n = d.count * static_cast<int64_t>(d.mask_size) * d.mask_size;
    f.masks.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) f.masks[i] = d.box_masks[i] > o.mask_threshold ? 1 : 0;
  }

  for (Track& t : s.tracks) {
    t.motion.predict();
    t.motion.box(t.predicted);
    if (!t.mask.empty()) carry_box(t.mask_box, t.det_box, t.predicted, t.predicted_mask_box);
  }

  std::vector<int> high, low;
  for (int det : canonical_order(d)) {
    if (d.scores[det] >= o.high_threshold)
      high.push_back(det);
    else if (d.scores[det] >= o.low_threshold)
      low.push_back(det);
  }
  std::vector<int> confirmed, tentative;
  for (int i = 0; i < static_cast<int>(s.tracks.size()); ++i)
    (s.tracks[i].confirmed() ? confirmed : tentative).push_back(i);

  // 1. Confident detections against every confirmed track, lost ones too:
  //    a lost track comes back only through its predicted motion.
  std::vector<std::pair<int, int>> matches = s.associate(confirmed, high, o.match_iou, f);
  // 2. Weak detections (occluded, blurred) keep alive only tracks seen on
  //    the previous frame, at a stricter IoU: a weak detection far from any
  //    live track is more often background than an object.
  std::vector<int> recent;
  for (int t : confirmed)
    if (s.tracks[t].misses == 0) recent.push_back(t);
  for (const auto& m : s.associate(recent, low, o.low_match_iou, f)) matches.push_back(m);
  // 3. Tentative tracks take what confident detections are left.
  for (const auto& m : s.associate(tentative, high, o.match_iou, f)) matches.push_back(m);

  std::vector<char> matched(s.tracks.size(), 0);
  std::vector<int> det_of(s.tracks.size(), -1);
  for (const auto& m : matches) {
    s.take(s.tracks[m.first], m.second, f);
    matched[m.first] = 1;
    det_of[m.first] = m.second;
  }
  std::vector<int64_t> ids(static_cast<size_t>(d.count), -1);
  std::vector<Track> kept;
  kept.reserve(s.tracks.size());
  for (size_t i = 0; i < s.tracks.size(); ++i) {
    Track& t = s.tracks[i];
    if (!matched[i]) {
      // A tentative track ends at its first miss; a confirmed one after
      // max_age misses in a row.
      if (!t.confirmed() || ++t.misses > o.max_age) continue;
    } else {
      if (!t.confirmed() && t.hits >= o.min_hits) t.id = s.next_id++;
      if (t.confirmed()) ids[det_of[i]] = t.id;
    }
    kept.push_back(std::move(t));
  }
  s.tracks.swap(kept);

  // 4. Births from the confident detections no track took.
  for (int det : high) {
    if (d.scores[det] < o.new_track_threshold) continue;
    Track t(f.box(det), o);
    t.first_frame = s.frame;
    t.label = d.labels[det];
    s.take(t, det, f, false);
    if (s.frame == 0 || o.min_hits <= 1) {
      t.id = s.next_id++;
      ids[det] = t.id;
    }
    t.motion.box(t.predicted);
    s.tracks.push_back(std::move(t));
  }
  s.frame += 1;
  return ids;
}

std::vector<int64_t> Tracker::update(const Instances& inst) {
  const size_t k = inst.size();
  if (inst.boxes.size() != 4 * k || inst.labels.size() != k)
    throw InvalidArgument(message("Tracker.update: instances must have 4 K box values and K labels for K = ", k,
                                  " scores, got ", inst.boxes.size(), " and ", inst.labels.size()));
  Detections d;
  d.count = static_cast<int64_t>(k);
  d.boxes = inst.boxes.data();
  d.scores = inst.scores.data();
  d.labels = inst.labels.data();
  const size_t cells = static_cast<size_t>(inst.mask_size) * static_cast<size_t>(inst.mask_size);
  if (state_->options.use_masks && k > 0 && inst.mask_size > 0 && inst.box_masks.size() == k * cells &&
      inst.mask_boxes.size() == 4 * k) {
    d.mask_size = inst.mask_size;
    d.box_masks = inst.box_masks.data();
    d.mask_boxes = inst.mask_boxes.data();
  }
  return update(d);
}

std::vector<TrackState> Tracker::tracks() const {
  std::vector<TrackState> out;
  for (const Track& t : state_->tracks) {
    TrackState s;
    s.id = t.id;
    s.label = t.label;
    t.motion.box(s.box);
    s.score = t.score;
    s.hits = t.hits;
    s.misses = t.misses;
    s.first_frame = t.first_frame;
    s.last_frame = t.last_frame;
    out.push_back(s);
  }
  return out;
}

}  // namespace fassst
