"""Training augmentations on (H, W, 3) uint8 images and their (N, H, W) instance masks.

All resampling is left to the runtime's letterbox: the geometric augmentations only choose a
window of the image (random scale = window size, random crop = window position, padded with
the letterbox value 114 where the window leaves the image) and flip it; the letterbox then
scales that window to the network input. Colour jitter changes image pixels only (the padding
stays 114, as at inference).
"""

from typing import Dict, Optional, Tuple

import numpy as np

PAD_VALUE = 114  # DESIGN.md section 5: the letterbox canvas value


def hflip(image: np.ndarray, masks: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Mirrors the image (H, W, C) and masks (N, H, W) left-right."""
    return np.ascontiguousarray(image[:, ::-1]), np.ascontiguousarray(masks[:, :, ::-1])


def color_jitter(image: np.ndarray, rng: np.random.Generator, brightness: float = 0.25,
                 contrast: float = 0.25, saturation: float = 0.25) -> np.ndarray:
    """Random brightness (x factor), contrast (towards the mean grey) and saturation (towards
    the per-pixel grey), each factor uniform in [1 - v, 1 + v], applied in random order."""
    img = image.astype(np.float32)
    ops = []
    if brightness > 0:
        f = rng.uniform(1 - brightness, 1 + brightness)
        ops.append(lambda x, f=f: x * f)
    if contrast > 0:
        f = rng.uniform(1 - contrast, 1 + contrast)
        ops.append(lambda x, f=f: (x - _grey(x).mean()) * f + _grey(x).mean())
    if saturation > 0:
        f = rng.uniform(1 - saturation, 1 + saturation)
        ops.append(lambda x, f=f: (x - _grey(x)[:, :, None]) * f + _grey(x)[:, :, None])
    for j in rng.permutation(len(ops)):
        img = ops[int(j)](img)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _grey(x: np.ndarray) -> np.ndarray:
    return x @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def random_window(rng: np.random.Generator, height: int, width: int,
                  scale_range: Tuple[float, float] = (0.6, 1.6)) -> Tuple[int, int, int, int]:
    """A window (x0, y0, w, h) in image pixels for a zoom factor s drawn log-uniformly from
    ``scale_range``: the window is (W/s, H/s); s > 1 crops (zoom in) at a random position,
    s < 1 shows the whole image at a random place inside a larger, padded window."""
    lo, hi = scale_range
    if not 0 < lo <= hi:
        raise ValueError("scale_range must be 0 < lo <= hi, got {}".format(scale_range))
    s = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    w = max(1, int(round(width / s)))
    h = max(1, int(round(height / s)))
    x0 = int(rng.integers(min(0, width - w), max(0, width - w) + 1))
    y0 = int(rng.integers(min(0, height - h), max(0, height - h) + 1))
    return x0, y0, w, h


def crop_window(image: np.ndarray, masks: np.ndarray, window: Tuple[int, int, int, int],
                pad_value: int = PAD_VALUE) -> Tuple[np.ndarray, np.ndarray]:
    """The window (x0, y0, w, h) of the image (outside: ``pad_value``) and of the masks
    (outside: 0). x0, y0 may be negative and the window larger than the image."""
    x0, y0, w, h = window
    H, W = image.shape[:2]
    out = np.full((h, w) + image.shape[2:], pad_value, dtype=image.dtype)
    out_m = np.zeros((masks.shape[0], h, w), dtype=masks.dtype)
    sx0, sy0 = max(0, x0), max(0, y0)
    sx1, sy1 = min(W, x0 + w), min(H, y0 + h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[sy0:sy1, sx0:sx1]
        out_m[:, sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = masks[:, sy0:sy1, sx0:sx1]
    return out, out_m


DEFAULTS: Dict = {
    "scale_range": (0.6, 1.6),
    "crop_prob": 0.8,      # probability of a random window; else the whole image
    "flip_prob": 0.5,
    # Up-down flip and transpose complete the eight symmetries of the square:
    # right for data without an up (microscopy, aerial), off by default.
    "vflip_prob": 0.0,
    "transpose_prob": 0.0,
    "jitter_prob": 0.8,
    "brightness": 0.25,
    "contrast": 0.25,
    "saturation": 0.25,
}


def augment(image: np.ndarray, masks: np.ndarray, rng: np.random.Generator,
            options: Optional[Dict] = None):
    """Applies flip, colour jitter and a random scale/crop window (options: :data:`DEFAULTS`).
    Returns (image, masks, info) with info = {"window": (x0, y0, w, h) in the input image's
    pixels after the flips and transpose, "flipped": bool}. Instances may end up empty; the caller drops them
    after letterboxing."""
    opt = dict(DEFAULTS)
    if options:
        unknown = set(options) - set(DEFAULTS)
        if unknown:
            raise ValueError("unknown augmentation options: {}".format(sorted(unknown)))
        opt.update(options)
    H, W = image.shape[:2]
    flipped = bool(rng.random() < opt["flip_prob"])
    if flipped:
        image, masks = hflip(image, masks)
    # drawn only when enabled, so runs without them keep their random stream
    if opt["vflip_prob"] > 0 and rng.random() < opt["vflip_prob"]:
        image, masks = np.ascontiguousarray(image[::-1]), np.ascontiguousarray(masks[:, ::-1])
    if opt["transpose_prob"] > 0 and rng.random() < opt["transpose_prob"]:
        image = np.ascontiguousarray(image.transpose(1, 0, 2))
        masks = np.ascontiguousarray(masks.transpose(0, 2, 1))
        H, W = W, H
    if rng.random() < opt["jitter_prob"]:
        image = color_jitter(image, rng, opt["brightness"], opt["contrast"], opt["saturation"])
    window = (0, 0, W, H)
    if rng.random() < opt["crop_prob"]:
        window = random_window(rng, H, W, tuple(opt["scale_range"]))
        image, masks = crop_window(image, masks, window)
    return image, masks, {"window": window, "flipped": flipped}
