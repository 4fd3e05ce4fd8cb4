// Object identities across the frames of one stream: a ByteTrack-style
// multi-object tracker (docs/tracking.md). One Tracker per source; call
// update() once per frame, in frame order, with that frame's instances. A
// Tracker holds per-stream state: calls on one object must not overlap.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "fassst/export.h"
#include "fassst/instances.h"

namespace fassst {

// What the tracker is told; every field is checked by the Tracker's
// constructor (InvalidArgument naming the field).
struct FASSST_API TrackerOptions {
  // Detections scoring >= high_threshold take part in the first association
  // and may start tracks; those in [low_threshold, high_threshold) only
  // extend tracks that were matched on the previous frame (the second
  // association); those below low_threshold are ignored. In [0, 1],
  // low_threshold <= high_threshold.
  float high_threshold = 0.5f;
  float low_threshold = 0.1f;
  // An unmatched detection scoring >= this starts a track. In [0, 1].
  float new_track_threshold = 0.6f;
  // The least IoU of a track's predicted box (or mask) and a detection for
  // the two to be matched: first association and tentative tracks
  // (match_iou), second association (low_match_iou). In [0, 1].
  float match_iou = 0.2f;
  float low_match_iou = 0.5f;
  // A new track is confirmed, and gets an id, once it has been matched on
  // min_hits consecutive frames (its first included); tracks born on the
  // tracker's first frame are confirmed at once. >= 1.
  int min_hits = 2;
  // The longest run of frames a confirmed track survives without a match
  // (its box predicted by the motion model meanwhile); it is deleted on the
  // next miss. A tentative track is deleted on its first miss. >= 1.
  int max_age = 30;
  // A track only matches detections of its own label (true), or of any
  // label, taking the label of the last detection it matched (false).
  bool class_aware = true;
  // Match on the IoU of masks instead of boxes where both the detection and
  // the track's last detection carry a box mask (Detections::box_masks).
  bool use_masks = false;
  // Mask probabilities above this are inside the mask. In [0, 1].
  float mask_threshold = 0.5f;
  // The motion model's noise: standard deviations, per frame, of a box's
  // change of position and size (also the detector's error) and of its
  // velocity, as fractions of the box's width or height. Larger
  // velocity_noise follows turns and accelerations sooner, smaller smooths
  // detection noise more. In (0, 1].
  float position_noise = 0.05f;
  float velocity_noise = 0.025f;
};

// One frame's detections, as views into the caller's arrays (not copied).
struct FASSST_API Detections {
  int64_t count = 0;
  const float* boxes = nullptr;    // count x 4: x1, y1, x2, y2 in frame pixels
  const float* scores = nullptr;   // count, in [0, 1]
  const int64_t* labels = nullptr; // count, >= 0
  // Optional box masks (Instances::box_masks / mask_boxes): count x
  // mask_size x mask_size probabilities over the count x 4 mask_boxes; read
  // only when TrackerOptions::use_masks is set.
  int mask_size = 0;
  const float* box_masks = nullptr;
  const float* mask_boxes = nullptr;
};

// A track as the tracker holds it after the last update().
struct FASSST_API TrackState {
  int64_t id = -1;          // -1 while tentative
  int64_t label = 0;
  float box[4] = {0, 0, 0, 0};  // the motion model's box: x1, y1, x2, y2
  float score = 0;          // the score of the last detection matched
  int hits = 0;             // frames matched in all
  int misses = 0;           // consecutive frames without a match up to now
  int64_t first_frame = 0;  // 0-based frame indices (update() calls)
  int64_t last_frame = 0;   // the last frame with a match
};

class FASSST_API Tracker {
 public:
  explicit Tracker(const TrackerOptions& options = TrackerOptions());
  ~Tracker();
  Tracker(Tracker&&) noexcept;
  Tracker& operator=(Tracker&&) noexcept;
  Tracker(const Tracker&) = delete;
  Tracker& operator=(const Tracker&) = delete;

  // Associates one frame's detections with the tracks and returns one id
  // per detection, in the detections' order: the id (>= 1) of the confirmed
  // track it belongs to, or -1 (a score below low_threshold, no track
  // matched and none started, or a track still tentative). Ids are given
  // in increasing order from 1 as tracks are confirmed, never reused; the
  // result does not depend on the order of the detections within a frame.
  std::vector<int64_t> update(const Detections& detections);
  // The same for a frame's Instances (masks used when use_masks is set).
  std::vector<int64_t> update(const Instances& instances);

  // Forgets every track; the next update() is a first frame and ids start
  // again from 1.
  void reset();

  const TrackerOptions& options() const;
  int64_t frame_count() const;  // update() calls since construction or reset()
  // Live tracks (confirmed, lost or tentative), in order of birth.
  std::vector<TrackState> tracks() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace fassst
