"""How frames of other kinds become the 8-bit, 3-channel images a model sees.

The rule for 16-bit frames is part of a model's metadata
(``input_mapping.uint16``), so the runtime maps frames exactly as the data the
model was trained on was mapped (the data converter calls the same function).
Rules (JSON objects):

- ``{"kind": "percentile", "low": 0.5, "high": 99.5}``: lo, hi = the low and
  high percentiles of this frame (NumPy's linear interpolation);
- ``{"kind": "window", "min": 0, "max": 65535}``: fixed lo, hi;
- ``{"kind": "identity"}``: values already in 0..255.

then ``floor(clip((v - lo) / (hi - lo), 0, 1) * 255 + 0.5)`` in float64 (all 0
when hi <= lo).
"""

from typing import Any, Dict, Optional

import numpy as np

PERCENTILE_0_5_99_5 = {"kind": "percentile", "low": 0.5, "high": 99.5}


def map_to_uint8(frame: np.ndarray, rule: Dict[str, Any]) -> np.ndarray:
    """Maps a single-channel frame ((H, W) or (H, W, 1), any integer or float
    dtype) to (H, W) uint8 by ``rule``."""
    f = np.asarray(frame)
    if f.ndim == 3 and f.shape[2] == 1:
        f = f[:, :, 0]
    if f.ndim != 2 or f.size == 0:
        raise ValueError("map_to_uint8 expects a non-empty single-channel frame (H, W), got shape {}"
                         .format(f.shape))
    kind = rule.get("kind") if isinstance(rule, dict) else None
    if kind == "identity":
        if f.min() < 0 or f.max() > 255:
            raise ValueError("identity mapping needs values in 0..255, got {}..{}".format(f.min(), f.max()))
        return np.floor(f.astype(np.float64) + 0.5).astype(np.uint8)
    if kind == "percentile":
        lo, hi = (float(v) for v in np.percentile(f, [float(rule["low"]), float(rule["high"])]))
    elif kind == "window":
        lo, hi = float(rule["min"]), float(rule["max"])
    else:
        raise ValueError("unknown 16-bit mapping rule {!r} (known kinds: percentile, window, identity)"
                         .format(rule))
    if hi <= lo:
        return np.zeros(f.shape, np.uint8)
    scaled = np.clip((f.astype(np.float64) - lo) / (hi - lo), 0.0, 1.0) * 255.0
    return np.floor(scaled + 0.5).astype(np.uint8)


def _map_uint16_with_core(frame: np.ndarray, rule: Dict[str, Any]) -> np.ndarray:
    """map_to_uint8 for the runtime's uint16 frames, done by the C++ core (the
    same code the C++ API runs; equal to map_to_uint8, tests/test_core_shared.py)."""
    from . import _C
    kind = rule.get("kind") if isinstance(rule, dict) else None
    if kind == "percentile":
        return _C.map_uint16_to_uint8(np.ascontiguousarray(frame), "percentile", float(rule["low"]),
                                      float(rule["high"]))
    if kind == "window":
        return _C.map_uint16_to_uint8(np.ascontiguousarray(frame), "window", float(rule["min"]),
                                      float(rule["max"]))
    return map_to_uint8(frame, rule)  # identity and unknown rules: the Python checks and messages


def frame_to_uint8_rgb_or_bgr(frame: Any, uint16_rule: Optional[Dict[str, Any]],
                              name: str = "frame") -> np.ndarray:
    """Any supported frame -> (H, W, 3) uint8, channel order unchanged.

    Accepted: uint8 (H, W), (H, W, 1), (H, W, 3), (H, W, 4) (alpha dropped);
    uint16 (H, W) or (H, W, 1) when the model has a 16-bit rule. Grey frames
    are replicated to three channels."""
    if not isinstance(frame, np.ndarray):
        raise TypeError("{} must be a NumPy array (H, W, 3) uint8, got {}".format(name, type(frame).__name__))
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if frame.ndim not in (2, 3) or (frame.ndim == 3 and frame.shape[2] not in (3, 4)):
        raise ValueError("{} must have shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {}"
                         .format(name, frame.shape))
    if frame.shape[0] < 1 or frame.shape[1] < 1:
        raise ValueError("{} is empty: shape {}".format(name, frame.shape))
    if frame.dtype == np.uint16:
        if frame.ndim != 2:
            raise ValueError("{}: 16-bit frames must be single-channel, got shape {}".format(name, frame.shape))
        if uint16_rule is None:
            raise ValueError("{}: this model defines no mapping for 16-bit frames; convert the frame "
                             "to 8-bit first".format(name))
        frame = _map_uint16_with_core(frame, uint16_rule)
    elif frame.dtype != np.uint8:
        raise TypeError("{} must be uint8 (or uint16 single-channel), got {}".format(name, frame.dtype))
    if frame.ndim == 2:
        return np.repeat(frame[:, :, None], 3, axis=2)
    return np.ascontiguousarray(frame[:, :, :3])
