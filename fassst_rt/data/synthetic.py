"""A procedural instance-segmentation data set of shapes, written as COCO JSON + PNG.

For unit tests and quick training runs (accuracy claims use the real data, docs/data.md).
Every image is a deterministic function of ``(seed, image index)`` alone: the first k images
of a set of n are the same as those of a set of k made with the same seed and options.

Each image: a background (a random crop of one of the photos bundled with scikit-image, or
smooth colour noise when none loads), then ``K`` shapes drawn one after the other, each of
one class (ellipse, rectangle, triangle, star, ring), size, rotation, colour and texture
(solid, noise, stripes, gradient). Later shapes occlude earlier ones: the visible mask of an
earlier instance loses the pixels a later one covers, so masks never overlap. A candidate
shape is rejected (and another drawn) when it would leave an earlier instance with less than
``min_visible`` of its own area or fewer than ``min_area`` pixels, so every instance kept is
well visible and ``K`` is exactly what was asked whenever it fits.

Annotations: ``segmentation`` as compressed RLE (pycocotools), ``bbox`` [x, y, w, h] and
``area`` computed from the visible mask, ``iscrowd`` 0, and ``full_area`` (the shape's area
before occlusion); categories 1..C in the order of ``classes``.
"""

import json
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..atomic import atomic_path, atomic_write_text

SHAPES = ("ellipse", "rectangle", "triangle", "star", "ring")
TEXTURES = ("solid", "noise", "stripes", "gradient")

# Photos bundled with scikit-image (no download). Coins, text and pages are left out: they
# hold shapes of their own.
_PHOTO_NAMES = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field",
                "immunohistochemistry", "grass", "gravel", "brick", "camera", "moon", "retina",
                "cell")
_photos_cache: Optional[List[np.ndarray]] = None


def _photos() -> List[np.ndarray]:
    """The bundled photos as (H, W, 3) uint8, loaded once; [] when none loads."""
    global _photos_cache
    if _photos_cache is None:
        photos = []
        try:
            import warnings

            import skimage.data
        except ImportError:
            skimage = None
        if skimage is not None:
            for name in _PHOTO_NAMES:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        img = np.asarray(getattr(skimage.data, name)())
                except Exception:  # a photo that needs a download, or a missing one
                    continue
                if img.dtype != np.uint8:
                    continue
                if img.ndim == 2:
                    img = np.repeat(img[:, :, None], 3, axis=2)
                photos.append(np.ascontiguousarray(img[:, :, :3]))
        _photos_cache = photos
    return _photos_cache


def _resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bilinear resize (half-pixel centres, clamped edges) of (H, W, C) to (h, w, C) float32."""
    H, W = img.shape[:2]
    ys = np.clip((np.arange(h) + 0.5) * (H / h) - 0.5, 0, H - 1)
    xs = np.clip((np.arange(w) + 0.5) * (W / w) - 0.5, 0, W - 1)
    y0 = np.floor(ys).astype(int)
    x0 = np.floor(xs).astype(int)
    y1 = np.minimum(y0 + 1, H - 1)
    x1 = np.minimum(x0 + 1, W - 1)
    fy = (ys - y0)[:, None, None]
    fx = (xs - x0)[None, :, None]
    f = img.astype(np.float32)
    top = f[y0][:, x0] * (1 - fx) + f[y0][:, x1] * fx
    bot = f[y1][:, x0] * (1 - fx) + f[y1][:, x1] * fx
    return top * (1 - fy) + bot * fy


def _background(rng: np.random.Generator, h: int, w: int, use_photos: bool) -> np.ndarray:
    photos = _photos() if use_photos else []
    if photos and rng.random() < 0.75:
        photo = photos[int(rng.integers(len(photos)))]
        ph, pw = photo.shape[:2]
        # A crop of the photo's aspect-matched window, 40-100 % of what fits.
        fit = min(ph / h, pw / w)
        s = fit * rng.uniform(0.4, 1.0)
        ch, cw = max(2, int(h * s)), max(2, int(w * s))
        y = int(rng.integers(0, ph - ch + 1))
        x = int(rng.integers(0, pw - cw + 1))
        bg = _resize(photo[y:y + ch, x:x + cw], h, w)
        if rng.random() < 0.5:
            bg = bg[:, ::-1]
        # Lower the contrast a little so that shapes stand out against most photos.
        bg = bg * rng.uniform(0.5, 0.9) + rng.uniform(0, 60)
    else:
        # Smooth colour noise: a coarse random grid upsampled, plus fine noise.
        gh, gw = int(rng.integers(2, 9)), int(rng.integers(2, 9))
        coarse = rng.uniform(0, 255, size=(gh, gw, 3)).astype(np.float32)
        bg = _resize(coarse, h, w) + rng.normal(0, rng.uniform(2, 15), size=(h, w, 3))
    return bg.astype(np.float32)


def _polygon_mask(rows: np.ndarray, cols: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
    from skimage.draw import polygon

    mask = np.zeros(shape, dtype=bool)
    rr, cc = polygon(rows, cols, shape)
    mask[rr, cc] = True
    return mask


def _ellipse_mask(cy, cx, ry, rx, rotation, shape) -> np.ndarray:
    from skimage.draw import ellipse

    mask = np.zeros(shape, dtype=bool)
    rr, cc = ellipse(cy, cx, ry, rx, shape=shape, rotation=rotation)
    mask[rr, cc] = True
    return mask


def _shape_mask(kind: str, rng: np.random.Generator, h: int, w: int, diameter: float) -> np.ndarray:
    """The full mask of one shape of about `diameter` pixels, wholly inside the image."""
    r = diameter / 2.0
    cy = rng.uniform(r, h - r)
    cx = rng.uniform(r, w - r)
    theta = rng.uniform(0, np.pi)
    shape = (h, w)
    if kind == "ellipse":
        return _ellipse_mask(cy, cx, r, r * rng.uniform(0.45, 1.0), theta, shape)
    if kind == "ring":
        ry, rx = r, r * rng.uniform(0.7, 1.0)
        k = rng.uniform(0.45, 0.65)
        outer = _ellipse_mask(cy, cx, ry, rx, theta, shape)
        inner = _ellipse_mask(cy, cx, ry * k, rx * k, theta, shape)
        return outer & ~inner
    if kind == "rectangle":
        hw, hh = r, r * rng.uniform(0.4, 1.0)
        corners = np.array([[-hw, -hh], [hw, -hh], [hw, hh], [-hw, hh]])
    elif kind == "triangle":
        angles = theta + np.array([0.0, 2 * np.pi / 3, 4 * np.pi / 3]) + rng.uniform(-0.25, 0.25, 3)
        corners = r * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    elif kind == "star":
        points = int(rng.integers(5, 7))
        angles = theta + np.arange(2 * points) * np.pi / points
        radii = np.where(np.arange(2 * points) % 2 == 0, r, r * rng.uniform(0.38, 0.5))
        corners = np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
    else:
        raise ValueError("unknown shape class {!r}; known: {}".format(kind, ", ".join(SHAPES)))
    c, s = np.cos(theta), np.sin(theta)
    if kind == "rectangle":
        corners = corners @ np.array([[c, s], [-s, c]])
    return _polygon_mask(cy + corners[:, 1], cx + corners[:, 0], shape)


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """An (h, w, 3) float32 fill of a random colour and texture."""
    base = rng.uniform(0, 255, size=3)
    kind = TEXTURES[int(rng.integers(len(TEXTURES)))]
    if kind == "solid":
        return np.broadcast_to(base, (h, w, 3)).astype(np.float32)
    if kind == "noise":
        return (base + rng.normal(0, rng.uniform(10, 35), size=(h, w, 3))).astype(np.float32)
    other = rng.uniform(0, 255, size=3)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    proj = xx * np.cos(angle) + yy * np.sin(angle)
    if kind == "stripes":
        period = rng.uniform(4, 14)
        t = (np.sin(2 * np.pi * proj / period) > 0).astype(np.float32)
    else:  # gradient
        t = (proj - proj.min()) / max(1e-6, float(np.ptp(proj)))
    t = t[:, :, None]
    return (base * (1 - t) + other * t).astype(np.float32)


def _make_image(rng: np.random.Generator, h: int, w: int, classes: Sequence[str], k: int,
                min_size: float, max_size: float, min_visible: float, min_area: int,
                use_photos: bool, max_tries: int):
    image = _background(rng, h, w, use_photos)
    visible: List[np.ndarray] = []
    full_area: List[int] = []
    labels: List[int] = []
    tries = 0
    while len(visible) < k and tries < max_tries:
        tries += 1
        label = int(rng.integers(len(classes)))
        diameter = rng.uniform(min_size, max_size) * min(h, w)
        mask = _shape_mask(classes[label], rng, h, w, diameter)
        area = int(mask.sum())
        if area < max(min_area, 1):
            continue
        remnants = [v & ~mask for v in visible]
        if any(int(r.sum()) < max(min_area, min_visible * a) for r, a in zip(remnants, full_area)):
            continue  # would hide too much of an earlier instance: draw another
        visible = remnants + [mask]
        full_area.append(area)
        labels.append(label)
        fill = _texture(rng, h, w)
        image[mask] = fill[mask]
    image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return image, visible, labels, full_area


def mask_to_annotation(mask: np.ndarray) -> Dict:
    """COCO fields of one binary mask: compressed RLE (counts as str), bbox [x, y, w, h] of
    the mask's pixels, area (pixel count)."""
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    ys, xs = np.nonzero(mask)
    bbox = [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]
    return {"segmentation": rle, "bbox": bbox, "area": int(mask.sum()), "iscrowd": 0}


def generate(out_dir: Union[str, os.PathLike], num_images: int,
             size: Union[int, Tuple[int, int]] = 256, seed: int = 0,
             classes: Sequence[str] = SHAPES, min_instances: int = 1, max_instances: int = 8,
             min_size: float = 0.12, max_size: float = 0.4, min_visible: float = 0.4,
             min_area: int = 30, photo_backgrounds: bool = True, max_tries: int = 200) -> str:
    """Writes ``num_images`` PNG images to ``out_dir/images`` and their COCO annotations to
    ``out_dir/annotations.json``; returns the path of the annotation file.

    size: ``S`` or ``(H, W)``. seed: everything follows from it (image i uses the generator
    seeded with ``(seed, i)``). classes: shape classes among :data:`SHAPES` (category ids 1..C
    in this order). Each image holds between ``min_instances`` and ``max_instances`` instances
    (uniform; ``min == max == K`` for exactly K) of diameter ``min_size`` to ``max_size`` times
    the shorter image side. ``min_visible``/``min_area``: the least visible fraction / pixels an
    occluded instance keeps. ``photo_backgrounds``: backgrounds from scikit-image's bundled
    photos (else colour noise only).
    """
    if isinstance(size, (int, np.integer)):
        h, w = int(size), int(size)
    else:
        h, w = (int(v) for v in size)
    classes = tuple(classes)
    if not classes:
        raise ValueError("classes must name at least one shape class")
    for c in classes:
        if c not in SHAPES:
            raise ValueError("unknown shape class {!r}; known: {}".format(c, ", ".join(SHAPES)))
    if len(set(classes)) != len(classes):
        raise ValueError("classes must be distinct, got {}".format(classes))
    if not 0 <= min_instances <= max_instances:
        raise ValueError("need 0 <= min_instances <= max_instances, got {} and {}"
                         .format(min_instances, max_instances))
    if not 0 < min_size <= max_size <= 1:
        raise ValueError("need 0 < min_size <= max_size <= 1")
    if h < 8 or w < 8:
        raise ValueError("images must be at least 8 x 8, got {} x {}".format(h, w))

    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    from PIL import Image

    images, annotations = [], []
    for i in range(int(num_images)):
        rng = np.random.default_rng([int(seed), i])
        k = int(rng.integers(min_instances, max_instances + 1))
        image, masks, labels, full_areas = _make_image(rng, h, w, classes, k, min_size, max_size,
                                           min_visible, min_area, photo_backgrounds, max_tries)
        image_id = i + 1
        file_name = "images/{:06d}.png".format(image_id)
        with atomic_path(out / file_name) as temporary:
            Image.fromarray(image).save(temporary, format="PNG")
        images.append({"id": image_id, "file_name": file_name, "height": h, "width": w})
        for mask, label, full in zip(masks, labels, full_areas):
            ann = mask_to_annotation(mask)
            ann.update({"id": len(annotations) + 1, "image_id": image_id, "category_id": label + 1,
                        "full_area": int(full)})
            annotations.append(ann)

    dataset = {
        "info": {
            "description": "fassst_rt synthetic shapes",
            "generator": "fassst_rt.data.synthetic",
            "seed": int(seed),
            "size": [h, w],
            "options": {"min_instances": min_instances, "max_instances": max_instances,
                        "min_size": min_size, "max_size": max_size, "min_visible": min_visible,
                        "min_area": min_area, "photo_backgrounds": bool(photo_backgrounds)},
        },
        "images": images,
        "annotations": annotations,
        "categories": [{"id": j + 1, "name": c, "supercategory": "shape"}
                       for j, c in enumerate(classes)],
    }
    ann_file = out / "annotations.json"
    atomic_write_text(ann_file, json.dumps(dataset))  # last: a set with annotations is complete
    return str(ann_file)


def add_arguments(parser) -> None:
    parser.add_argument("out_dir", help="output directory (images/ and annotations.json)")
    parser.add_argument("--num-images", type=int, default=200)
    parser.add_argument("--size", type=int, nargs="+", default=[256], help="S or H W")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--classes", nargs="+", default=list(SHAPES), choices=SHAPES)
    parser.add_argument("--min-instances", type=int, default=1)
    parser.add_argument("--max-instances", type=int, default=8)
    parser.add_argument("--no-photos", action="store_true", help="noise backgrounds only")


def run(args) -> int:
    size = args.size[0] if len(args.size) == 1 else tuple(args.size[:2])
    path = generate(args.out_dir, args.num_images, size=size, seed=args.seed, classes=args.classes,
                    min_instances=args.min_instances, max_instances=args.max_instances,
                    photo_backgrounds=not args.no_photos)
    print(path)
    return 0


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description="Generate a synthetic COCO data set of shapes.")
    add_arguments(p)
    raise SystemExit(run(p.parse_args()))
