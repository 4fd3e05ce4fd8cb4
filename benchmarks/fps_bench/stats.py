"""Medians, percentiles and the summary every timing in the JSON carries."""

import statistics
from typing import Dict, Sequence

import numpy as np


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, np.float64), q)) if len(values) else float("nan")


def summary(values_ms: Sequence[float]) -> Dict[str, float]:
    if not values_ms:
        return {"median": float("nan"), "p90": float("nan"), "p99": float("nan"), "mean": float("nan"),
                "min": float("nan"), "n": 0}
    return {"median": statistics.median(values_ms), "p90": percentile(values_ms, 90),
            "p99": percentile(values_ms, 99), "mean": statistics.mean(values_ms), "min": min(values_ms),
            "n": len(values_ms)}
