// The tracker (fassst/tracker.h) and its parts against independent
// references: the assignment against brute force over every matching, the
// Kalman filter against the motion it observes, mask IoU against areas
// worked out by hand, and the tracker's identities on scripted scenes.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "check.h"
#include "core/assignment.h"
#include "core/errors.h"
#include "core/kalman_box.h"
#include "core/tracker.h"
#include "fassst/tracker.h"

using namespace fassst;

namespace {

// A small deterministic generator (64-bit LCG), uniform in [0, 1).
struct Random {
  uint64_t state;
  explicit Random(uint64_t seed) : state(seed * 6364136223846793005ULL + 1442695040888963407ULL) {}
  double uniform() {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(state >> 11) / 9007199254740992.0;
  }
};

// The least total cost over every injective row -> column map, by
// enumeration.
double brute_force_min_cost(const std::vector<double>& cost, int rows, int cols) {
  double best = std::numeric_limits<double>::infinity();
  std::vector<char> used(cols, 0);
  std::function<void(int, double)> go = [&](int r, double sum) {
    if (r == rows) {
      best = std::min(best, sum);
      return;
    }
    for (int c = 0; c < cols; ++c)
      if (!used[c]) {
        used[c] = 1;
        go(r + 1, sum + cost[r * cols + c]);
        used[c] = 0;
      }
  };
  go(0, 0.0);
  return best;
}

// The least value of match_by_iou's objective over every partial matching
// of allowed pairs, by enumeration.
double brute_force_iou_objective(const std::vector<double>& iou, int rows, int cols, double min_iou) {
  const double half = (1.0 - min_iou) / 2.0;
  double best = std::numeric_limits<double>::infinity();
  std::vector<char> used(cols, 0);
  std::function<void(int, double, int)> go = [&](int r, double sum, int pairs) {
    if (r == rows) {
      best = std::min(best, sum + half * (rows + cols - 2 * pairs));
      return;
    }
    go(r + 1, sum, pairs);  // row r unmatched
    for (int c = 0; c < cols; ++c)
      if (!used[c] && iou[r * cols + c] >= min_iou) {
        used[c] = 1;
        go(r + 1, sum + 1.0 - iou[r * cols + c], pairs + 1);
        used[c] = 0;
      }
  };
  go(0, 0.0, 0);
  return best;
}

// x1, y1, x2, y2 of a w x h box centred on (cx, cy).
std::vector<float> box_at(double cx, double cy, double w, double h) {
  return {float(cx - w / 2), float(cy - h / 2), float(cx + w / 2), float(cy + h / 2)};
}

// A frame of detections built up one at a time.
struct FrameBuilder {
  std::vector<float> boxes;
  std::vector<float> scores;
  std::vector<int64_t> labels;
  FrameBuilder& add(const std::vector<float>& box, float score, int64_t label = 0) {
    boxes.insert(boxes.end(), box.begin(), box.end());
    scores.push_back(score);
    labels.push_back(label);
    return *this;
  }
  Detections view() const {
    Detections d;
    d.count = static_cast<int64_t>(scores.size());
    d.boxes = boxes.data();
    d.scores = scores.data();
    d.labels = labels.data();
    return d;
  }
};

std::vector<int64_t> step(Tracker& tracker, const FrameBuilder& frame) { return tracker.update(frame.view()); }

}  // namespace

TEST_CASE(assignment_is_the_brute_force_minimum) {
  Random rng(1);
  for (int trial = 0; trial < 300; ++trial) {
    const int rows = 1 + static_cast<int>(rng.uniform() * 6);
    const int cols = rows + static_cast<int>(rng.uniform() * 3);
    std::vector<double> cost(rows * cols);
    // Coarse values make ties common, which the method must survive.
    for (double& c : cost) c = std::floor(rng.uniform() * 5) - 2;
    const std::vector<int> col_of = min_cost_assignment(cost, rows, cols);
    std::vector<char> used(cols, 0);
    double total = 0;
    bool distinct = true;
    for (int r = 0; r < rows; ++r) {
      distinct = distinct && col_of[r] >= 0 && col_of[r] < cols && !used[col_of[r]];
      if (col_of[r] >= 0 && col_of[r] < cols) used[col_of[r]] = 1, total += cost[r * cols + col_of[r]];
    }
    CHECK(distinct);
    CHECK_NEAR(total, brute_force_min_cost(cost, rows, cols), 1e-9);
  }
  CHECK(min_cost_assignment({}, 0, 3).empty());
  CHECK_THROWS(InvalidArgument, min_cost_assignment({1, 2}, 2, 1), "rows <= cols");
}

TEST_CASE(iou_matching_is_the_brute_force_optimum_and_respects_the_floor) {
  Random rng(2);
  for (int trial = 0; trial < 300; ++trial) {
    const int rows = static_cast<int>(rng.uniform() * 6), cols = static_cast<int>(rng.uniform() * 6);
    std::vector<double> iou(rows * cols);
    for (double& v : iou) v = rng.uniform() < 0.5 ? 0.0 : (rng.uniform() < 0.1 ? -1.0 : rng.uniform());
    const double min_iou = 0.3;
    const auto pairs = match_by_iou(iou, rows, cols, min_iou);
    std::vector<char> row_used(rows, 0), col_used(cols, 0);
    double objective = 0;
    bool valid = true;
    for (const auto& p : pairs) {
      valid = valid && !row_used[p.first] && !col_used[p.second] && iou[p.first * cols + p.second] >= min_iou;
      row_used[p.first] = col_used[p.second] = 1;
      objective += 1.0 - iou[p.first * cols + p.second];
    }
    objective += (1.0 - min_iou) / 2.0 * (rows + cols - 2 * static_cast<int>(pairs.size()));
    CHECK(valid);
    CHECK_NEAR(objective, brute_force_iou_objective(iou, rows, cols, min_iou), 1e-6);
    CHECK(std::is_sorted(pairs.begin(), pairs.end()));
  }
  // One strong pair is kept rather than two weak ones: rows A, B; columns
  // X, Y; A-X 0.9, A-Y 0.25, B-X 0.25.
  const auto pairs = match_by_iou({0.9, 0.25, 0.25, 0.0}, 2, 2, 0.2);
  CHECK(pairs.size() == 1 && pairs[0] == std::make_pair(0, 0));
  // A pair at exactly the floor is matched.
  CHECK_EQ(match_by_iou({0.5}, 1, 1, 0.5).size(), size_t{1});
}

TEST_CASE(kalman_box_learns_a_constant_velocity) {
  // cx moves +3 px, cy -2 px, w +0.5 px per frame; h is constant.
  auto truth = [](int t) { return box_at(100 + 3 * t, 200 - 2 * t, 40 + 0.5 * t, 60); };
  std::vector<float> b = truth(0);
  KalmanBox kf(b.data(), 0.05, 0.025);
  for (int t = 1; t <= 30; ++t) {
    kf.predict();
    b = truth(t);
    kf.update(b.data());
  }
  const auto& x = kf.state();
  CHECK_NEAR(x[4], 3.0, 0.05);
  CHECK_NEAR(x[5], -2.0, 0.05);
  CHECK_NEAR(x[6], 0.5, 0.05);
  CHECK_NEAR(x[7], 0.0, 0.05);
  kf.predict();
  float predicted[4];
  kf.box(predicted);
  const std::vector<float> next = truth(31);
  for (int k = 0; k < 4; ++k) CHECK_NEAR(predicted[k], next[k], 0.3);
  // the covariance stays symmetric with a positive diagonal
  const auto& p = kf.covariance();
  for (int r = 0; r < 8; ++r) {
    CHECK(p[r * 8 + r] > 0);
    for (int c = 0; c < 8; ++c) CHECK_NEAR(p[r * 8 + c], p[c * 8 + r], 1e-9);
  }
}

TEST_CASE(kalman_box_moves_towards_a_jumped_observation_by_its_confidence) {
  // A settled filter trusts its state more than a fresh one does: the same
  // 10 px jump moves the settled estimate less.
  std::vector<float> b = box_at(50, 50, 20, 20), jumped = box_at(60, 50, 20, 20);
  KalmanBox fresh(b.data(), 0.05, 0.025), settled(b.data(), 0.05, 0.025);
  for (int t = 0; t < 20; ++t) {
    settled.predict();
    settled.update(b.data());
  }
  fresh.predict();
  fresh.update(jumped.data());
  settled.predict();
  settled.update(jumped.data());
  CHECK(fresh.state()[0] > settled.state()[0]);
  CHECK(settled.state()[0] > 50.0 && fresh.state()[0] < 60.0);
}

TEST_CASE(box_mask_iou_against_hand_computed_areas) {
  const int n = 8;
  std::vector<uint8_t> full(n * n, 1), left(n * n, 0), right(n * n, 0);
  for (int y = 0; y < n; ++y)
    for (int x = 0; x < n; ++x) (x < n / 2 ? left : right)[y * n + x] = 1;
  const BoxMask a{full.data(), n, {0, 0, 16, 16}};
  CHECK_NEAR(box_mask_iou(a, a), 1.0, 1e-9);
  // full masks: the IoU of the boxes, 8 x 16 overlap over 16 x 16 + 16 x 16 - 128
  const BoxMask shifted{full.data(), n, {8, 0, 24, 16}};
  CHECK_NEAR(box_mask_iou(a, shifted), 128.0 / 384.0, 1e-9);
  // left half against full on the same box: 128 / 256
  const BoxMask l{left.data(), n, {0, 0, 16, 16}}, r{right.data(), n, {0, 0, 16, 16}};
  CHECK_NEAR(box_mask_iou(l, a), 0.5, 1e-9);
  // complementary halves of one box do not overlap at all
  CHECK_NEAR(box_mask_iou(l, r), 0.0, 1e-9);
  // a mask of another resolution: a 4 x 4 full mask over the left half
  std::vector<uint8_t> small(16, 1);
  const BoxMask s{small.data(), 4, {0, 0, 8, 16}};
  CHECK_NEAR(box_mask_iou(s, l), 1.0, 1e-9);
  // an empty mask or box
  std::vector<uint8_t> empty(n * n, 0);
  CHECK_NEAR(box_mask_iou(BoxMask{empty.data(), n, {0, 0, 16, 16}}, a), 0.0, 0.0);
  CHECK_NEAR(box_mask_iou(BoxMask{full.data(), n, {5, 5, 5, 9}}, a), 0.0, 0.0);
}

TEST_CASE(options_are_checked_by_name) {
  auto with = [](std::function<void(TrackerOptions&)> set) {
    TrackerOptions o;
    set(o);
    return o;
  };
  CHECK_THROWS(InvalidArgument, Tracker(with([](TrackerOptions& o) { o.high_threshold = 1.5f; })),
               "high_threshold must be in [0, 1], got 1.5");
  CHECK_THROWS(InvalidArgument, Tracker(with([](TrackerOptions& o) { o.low_threshold = -0.1f; })), "low_threshold");
  CHECK_THROWS(InvalidArgument,
               Tracker(with([](TrackerOptions& o) { o.new_track_threshold = std::nanf(""); })),
               "new_track_threshold");
  CHECK_THROWS(InvalidArgument, Tracker(with([](TrackerOptions& o) { o.match_iou = 2; })), "match_iou");
  CHECK_THROWS(InvalidArgument, Tracker(with([](TrackerOptions& o) { o.low_match_iou = -1; })), "low_match_iou");
  CHECK_THROWS(InvalidArgument, Tracker(with([](TrackerOptions& o) { o.mask_threshold = 3; })), "mask_threshold");
  CHECK_THROWS(InvalidArgument, Tracker(with([](TrackerOptions& o) { o.position_noise = 0; })),
               "position_noise must be in (0, 1], got 0");
  CHECK_THROWS(InvalidArgument, Tracker(with([](TrackerOptions& o) { o.velocity_noise = 1.5f; })),
               "velocity_noise");
  CHECK_THROWS(InvalidArgument, Tracker(with([](TrackerOptions& o) { o.min_hits = 0; })),
               "min_hits must be >= 1, got 0");
  CHECK_THROWS(InvalidArgument, Tracker(with([](TrackerOptions& o) { o.max_age = -2; })), "max_age");
  CHECK_THROWS(InvalidArgument, Tracker(with([](TrackerOptions& o) {
                 o.high_threshold = 0.3f;
                 o.low_threshold = 0.4f;
               })),
               "low_threshold must be <= high_threshold");
}

TEST_CASE(bad_detections_are_refused_with_the_argument_named) {
  Tracker tracker;
  FrameBuilder nan_box, flipped, score, label;
  nan_box.add({0, 0, std::nanf(""), 10}, 0.9f);
  flipped.add({10, 0, 5, 10}, 0.9f);
  score.add(box_at(5, 5, 4, 4), 1.5f);
  label.add(box_at(5, 5, 4, 4), 0.9f, -1);
  CHECK_THROWS(InvalidArgument, step(tracker, nan_box), "boxes must be finite");
  CHECK_THROWS(InvalidArgument, step(tracker, flipped), "x2 >= x1");
  CHECK_THROWS(InvalidArgument, step(tracker, score), "scores must be in [0, 1], got 1.5");
  CHECK_THROWS(InvalidArgument, step(tracker, label), "labels must be >= 0, got -1");
  Detections d;
  d.count = 2;
  CHECK_THROWS(InvalidArgument, tracker.update(d), "null pointer");
  CHECK_EQ(tracker.frame_count(), int64_t{0});  // refused frames do not count
}

TEST_CASE(first_frame_tracks_are_confirmed_at_once_later_ones_after_min_hits) {
  Tracker tracker;  // min_hits 2
  FrameBuilder f0;
  f0.add(box_at(50, 50, 20, 20), 0.9f).add(box_at(150, 50, 20, 20), 0.8f);
  std::vector<int64_t> ids = step(tracker, f0);
  CHECK(ids == std::vector<int64_t>({1, 2}));  // in descending score
  FrameBuilder f1 = f0;
  f1.add(box_at(300, 300, 30, 30), 0.95f);  // a newcomer: tentative
  ids = step(tracker, f1);
  CHECK(ids == std::vector<int64_t>({1, 2, -1}));
  ids = step(tracker, f1);
  CHECK(ids == std::vector<int64_t>({1, 2, 3}));  // confirmed on its second frame
  // a newcomer seen once, then gone, leaves no id behind
  FrameBuilder f3 = f1;
  f3.add(box_at(500, 100, 30, 30), 0.9f);
  CHECK(step(tracker, f3) == std::vector<int64_t>({1, 2, 3, -1}));
  CHECK(step(tracker, f1) == std::vector<int64_t>({1, 2, 3}));
  FrameBuilder f5 = f1;
  f5.add(box_at(600, 100, 30, 30), 0.9f);
  step(tracker, f5);
  CHECK(step(tracker, f5) == std::vector<int64_t>({1, 2, 3, 4}));  // 4, not 5: ids are dense
  // min_hits 1: every new track is confirmed at birth
  TrackerOptions o;
  o.min_hits = 1;
  Tracker eager(o);
  step(eager, FrameBuilder());
  CHECK(step(eager, f0) == std::vector<int64_t>({1, 2}));
}

TEST_CASE(crossing_objects_keep_their_ids) {
  // Two 40 px boxes on one line, 25 px per frame towards and past each
  // other: near the crossing each track's last box overlaps the other
  // object's new box more than its own, so only the motion model keeps the
  // identities apart.
  Tracker tracker;
  std::vector<int64_t> a_ids, b_ids;
  for (int t = 0; t < 36; ++t) {
    FrameBuilder f;
    f.add(box_at(100 + 25 * t, 100, 40, 40), 0.9f);
    f.add(box_at(1000 - 25 * t, 104, 40, 40), 0.85f);
    const std::vector<int64_t> ids = step(tracker, f);
    a_ids.push_back(ids[0]);
    b_ids.push_back(ids[1]);
  }
  CHECK(std::all_of(a_ids.begin(), a_ids.end(), [](int64_t id) { return id == 1; }));
  CHECK(std::all_of(b_ids.begin(), b_ids.end(), [](int64_t id) { return id == 2; }));
}

TEST_CASE(an_occluded_object_comes_back_within_max_age_only) {
  for (int max_age : {3, 10}) {
    TrackerOptions o;
    o.max_age = max_age;
    Tracker tracker(o);
    std::vector<int64_t> seen;
    for (int t = 0; t < 30; ++t) {
      FrameBuilder f;
      if (t < 10 || t >= 16) f.add(box_at(100 + 5 * t, 100, 40, 40), 0.9f);  // gone for 6 frames
      const std::vector<int64_t> ids = step(tracker, f);
      if (!ids.empty()) seen.push_back(ids[0]);
    }
    // 6 missed frames: bridged with max_age 10; with max_age 3 the track
    // died and the object comes back under a new id, after min_hits frames.
    const int64_t after = seen[11];  // the second frame after the gap
    CHECK_EQ(seen[0], int64_t{1});
    CHECK_EQ(after, max_age == 10 ? int64_t{1} : int64_t{2});
    CHECK_EQ(seen[10], max_age == 10 ? int64_t{1} : int64_t{-1});
  }
}

TEST_CASE(low_score_detections_extend_tracks_but_never_start_them) {
  Tracker tracker;
  FrameBuilder strong, weak, weak_elsewhere;
  strong.add(box_at(100, 100, 40, 40), 0.9f);
  weak.add(box_at(102, 100, 40, 40), 0.3f);
  weak_elsewhere.add(box_at(400, 100, 40, 40), 0.3f);
  CHECK(step(tracker, strong) == std::vector<int64_t>({1}));
  CHECK(step(tracker, weak) == std::vector<int64_t>({1}));  // second association
  CHECK(step(tracker, weak_elsewhere) == std::vector<int64_t>({-1}));
  // ... and only for a track seen on the previous frame: after a miss, the
  // weak detection at the track's place is not taken
  FrameBuilder weak_back;
  weak_back.add(box_at(104, 100, 40, 40), 0.3f);
  CHECK(step(tracker, weak_back) == std::vector<int64_t>({-1}));
  FrameBuilder strong_back;
  strong_back.add(box_at(104, 100, 40, 40), 0.9f);
  CHECK(step(tracker, strong_back) == std::vector<int64_t>({1}));
  // below low_threshold a detection is ignored altogether
  FrameBuilder faint;
  faint.add(box_at(104, 100, 40, 40), 0.05f);
  CHECK(step(tracker, faint) == std::vector<int64_t>({-1}));
}

TEST_CASE(tracks_keep_their_label_unless_class_agnostic) {
  FrameBuilder cat, dog;
  cat.add(box_at(100, 100, 40, 40), 0.9f, 0);
  dog.add(box_at(101, 100, 40, 40), 0.9f, 1);
  Tracker aware;
  step(aware, cat);
  step(aware, dog);  // a new, tentative track; track 1 misses
  CHECK(step(aware, dog) == std::vector<int64_t>({2}));
  TrackerOptions o;
  o.class_aware = false;
  Tracker agnostic(o);
  step(agnostic, cat);
  CHECK(step(agnostic, dog) == std::vector<int64_t>({1}));
  CHECK(agnostic.tracks().size() == 1 && agnostic.tracks()[0].label == 1);
}

TEST_CASE(ids_do_not_depend_on_detection_order) {
  // 12 objects on random straight paths, some overlapping; each frame given
  // once in order and once shuffled: every object gets the same ids.
  Random rng(7);
  const int objects = 12;
  std::vector<double> x(objects), y(objects), vx(objects), vy(objects), score(objects);
  for (int i = 0; i < objects; ++i) {
    x[i] = 50 + rng.uniform() * 300;
    y[i] = 50 + rng.uniform() * 300;
    vx[i] = rng.uniform() * 8 - 4;
    vy[i] = rng.uniform() * 8 - 4;
    score[i] = 0.2 + 0.79 * rng.uniform();
  }
  Tracker in_order, shuffled;
  for (int t = 0; t < 25; ++t) {
    FrameBuilder f;
    for (int i = 0; i < objects; ++i)
      f.add(box_at(x[i] + vx[i] * t + rng.uniform(), y[i] + vy[i] * t + rng.uniform(), 40, 40),
            static_cast<float>(score[i]), i % 2);
    std::vector<int> perm(objects);
    for (int i = 0; i < objects; ++i) perm[i] = i;
    for (int i = objects - 1; i > 0; --i) std::swap(perm[i], perm[static_cast<int>(rng.uniform() * (i + 1))]);
    FrameBuilder g;
    for (int i = 0; i < objects; ++i)
      g.add({f.boxes.begin() + 4 * perm[i], f.boxes.begin() + 4 * perm[i] + 4}, f.scores[perm[i]],
            f.labels[perm[i]]);
    const std::vector<int64_t> a = step(in_order, f), b = step(shuffled, g);
    for (int i = 0; i < objects; ++i) CHECK_EQ(b[i], a[perm[i]]);
  }
}

TEST_CASE(mask_iou_tells_apart_objects_that_share_a_box) {
  // A track whose mask is the left half of its box; the next frame has two
  // detections on that same box, the right-half one scoring higher. Boxes
  // alone cannot tell them apart (either may win the tie); masks can.
  const int n = 8;
  std::vector<float> left(n * n, 0), right(n * n, 0);
  for (int y = 0; y < n; ++y)
    for (int x = 0; x < n; ++x) (x < n / 2 ? left : right)[y * n + x] = 0.9f;
  const std::vector<float> box = box_at(100, 100, 40, 40);
  auto frame = [&](bool both, std::vector<float>& boxes, std::vector<float>& masks, std::vector<float>& scores,
                   std::vector<int64_t>& labels) {
    boxes = box;
    masks = left;
    scores = {0.8f};
    labels = {0};
    if (both) {
      boxes.insert(boxes.begin(), box.begin(), box.end());
      masks.insert(masks.begin(), right.begin(), right.end());
      scores.insert(scores.begin(), 0.9f);
      labels.push_back(0);
    }
    Detections d;
    d.count = static_cast<int64_t>(scores.size());
    d.boxes = boxes.data();
    d.scores = scores.data();
    d.labels = labels.data();
    d.mask_size = n;
    d.box_masks = masks.data();
    d.mask_boxes = boxes.data();
    return d;
  };
  for (bool use_masks : {false, true}) {
    TrackerOptions o;
    o.use_masks = use_masks;
    Tracker tracker(o);
    std::vector<float> b, m, s;
    std::vector<int64_t> l;
    CHECK(tracker.update(frame(false, b, m, s, l)) == std::vector<int64_t>({1}));
    const std::vector<int64_t> ids = tracker.update(frame(true, b, m, s, l));  // [right 0.9, left 0.8]
    if (use_masks)
      CHECK(ids == std::vector<int64_t>({-1, 1}));
    else
      CHECK(std::count(ids.begin(), ids.end(), int64_t{1}) == 1 && std::count(ids.begin(), ids.end(), int64_t{-1}) == 1);
  }
}

TEST_CASE(reset_starts_ids_again_from_one) {
  Tracker tracker;
  FrameBuilder f;
  f.add(box_at(10, 10, 5, 5), 0.9f).add(box_at(50, 10, 5, 5), 0.9f);
  step(tracker, f);
  CHECK_EQ(tracker.tracks().size(), size_t{2});
  tracker.reset();
  CHECK_EQ(tracker.frame_count(), int64_t{0});
  CHECK(tracker.tracks().empty());
  FrameBuilder g;
  g.add(box_at(300, 10, 5, 5), 0.9f);
  CHECK(step(tracker, g) == std::vector<int64_t>({1}));
}

TEST_CASE(a_lost_track_is_deleted_after_max_age_misses) {
  TrackerOptions o;
  o.max_age = 4;
  Tracker tracker(o);
  FrameBuilder f;
  f.add(box_at(10, 10, 5, 5), 0.9f);
  step(tracker, f);
  for (int miss = 1; miss <= 5; ++miss) {
    step(tracker, FrameBuilder());
    const auto live = tracker.tracks();
    CHECK_EQ(live.size(), miss <= 4 ? size_t{1} : size_t{0});
    if (!live.empty()) CHECK_EQ(live[0].misses, miss);
  }
}

CHECK_MAIN()
