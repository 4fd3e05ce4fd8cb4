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

from typing import Any, Dict

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
