"""Object identities across the frames of a stream (docs/tracking.md).

:class:`Tracker` binds the core's ByteTrack-style tracker (``fassst::Tracker``,
the same code C++ applications use): one per source, ``update`` once per
frame, in order.
"""

from typing import Any, Dict, List

import numpy as np

from . import _C
from .results import Instances


class Tracker:
    """A multi-object tracker over one stream's :class:`Instances`.

    Args:
        high_threshold: detections scoring at least this are matched first and
            may start tracks.
        low_threshold: detections in [low_threshold, high_threshold) only extend
            tracks seen on the previous frame; lower ones are ignored. Pass the
            segmenter a ``score_threshold`` at or below this for them to reach
            the tracker.
        new_track_threshold: an unmatched detection scoring at least this starts
            a track.
        match_iou: the least IoU of a track's predicted box and a confident
            detection for a match; low_match_iou: the same for weak detections.
        min_hits: frames in a row a new track must be matched before it gets an
            id (tracks of the first frame get one at once).
        max_age: the longest run of frames a track survives unmatched.
        class_aware: a track only matches detections of its own label.
        use_masks: match on the IoU of the instances' masks instead of boxes.
        mask_threshold: mask probabilities above this are inside the mask.
        position_noise, velocity_noise: the motion model's per-frame standard
            deviations of a box's position and of its velocity, as fractions
            of its size; a larger velocity_noise follows turns sooner.

    Thresholds are in [0, 1], noises in (0, 1], counts >= 1; a value out of range raises
    ValueError naming it.
    """

    def __init__(self, high_threshold: float = 0.5, low_threshold: float = 0.1,
                 new_track_threshold: float = 0.6, match_iou: float = 0.2, low_match_iou: float = 0.5,
                 min_hits: int = 2, max_age: int = 30, class_aware: bool = True, use_masks: bool = False,
                 mask_threshold: float = 0.5, position_noise: float = 0.05,
                 velocity_noise: float = 0.025) -> None:
        for name, value in (("min_hits", min_hits), ("max_age", max_age)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError("{} must be an int, got {!r}".format(name, value))
        self._core = _C.Tracker(high_threshold=high_threshold, low_threshold=low_threshold,
                                new_track_threshold=new_track_threshold, match_iou=match_iou,
                                low_match_iou=low_match_iou, min_hits=int(min_hits), max_age=int(max_age),
                                class_aware=bool(class_aware), use_masks=bool(use_masks),
                                mask_threshold=mask_threshold, position_noise=position_noise,
                                velocity_noise=velocity_noise)

    def update(self, instances: Instances) -> np.ndarray:
        """Tracks one frame: returns (K,) int64 ids, one per instance, and sets
        ``instances.track_ids`` to them. An id is >= 1 and stays with its
        object across frames; -1 marks an instance without a confirmed track
        (too weak, just appeared, or unmatched)."""
        if not isinstance(instances, Instances):
            raise TypeError("Tracker.update: instances must be a fassst_rt.Instances, got {}".format(
                type(instances).__name__))
        if self._core.options["use_masks"] and len(instances) > 0:
            ids = self._core.update(instances.boxes, instances.scores, instances.labels,
                                    instances.box_masks, instances.mask_boxes)
        else:
            ids = self._core.update(instances.boxes, instances.scores, instances.labels)
        instances.track_ids = ids
        return ids

    def reset(self) -> None:
        """Forgets every track; ids start again from 1."""
        self._core.reset()

    @property
    def frame_count(self) -> int:
        """Frames given to ``update`` since construction or ``reset``."""
        return self._core.frame_count

    @property
    def options(self) -> Dict[str, Any]:
        return self._core.options

    def tracks(self) -> List[Dict[str, Any]]:
        """The live tracks, in order of birth: id (-1 while tentative), label,
        box (the motion model's x1, y1, x2, y2), score, hits, misses,
        first_frame, last_frame."""
        return self._core.tracks()
