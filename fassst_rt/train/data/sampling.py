"""Class-balanced sampling by repeat factors (the LVIS recipe: Gupta et al.,
CVPR 2019, section 4).

A class seen in a fraction f_c of the training images gets the factor
r_c = max(1, sqrt(t / f_c)); an image is repeated r_i = max over the classes it
holds of r_c times per epoch (1 for images without instances). Rare classes
(here: 58 bacteria tiles among 598) are then seen about as often as t asks,
without touching the loss. Fractional factors are rounded stochastically once,
from the seed, so an epoch has a fixed length (resume needs that).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch


def repeat_factors(image_classes: Sequence[Sequence[int]], threshold: float) -> list[float]:
    """r_i per image from the classes each image holds; threshold t > 0."""
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold!r}")
    n = len(image_classes)
    if n == 0:
        return []
    images_with: dict[int, int] = {}
    for classes in image_classes:
        for c in set(classes):
            images_with[c] = images_with.get(c, 0) + 1
    class_factor = {c: max(1.0, math.sqrt(threshold / (k / n))) for c, k in images_with.items()}
    return [max((class_factor[c] for c in set(classes)), default=1.0) for classes in image_classes]


def epoch_indices(factors: Sequence[float], seed: int) -> list[int]:
    """Image i listed floor(r_i) times, plus once more with probability
    frac(r_i), drawn once from ``seed``: the base list an epoch permutes."""
    g = torch.Generator().manual_seed(seed * 7919 + 17)
    draws = torch.rand(len(factors), generator=g, dtype=torch.float64).tolist()
    out: list[int] = []
    for i, (r, u) in enumerate(zip(factors, draws)):
        if not r >= 1:
            raise ValueError(f"repeat factor of image {i} must be >= 1, got {r!r}")
        whole = int(math.floor(r))
        out.extend([i] * (whole + (1 if u < r - whole else 0)))
    return out
