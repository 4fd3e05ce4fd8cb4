"""Training augmentations on (H, W, 3) uint8 images and their (N, H, W) instance masks.

Scale and crop leave resampling to the runtime's letterbox: they only choose a window of the
image (random scale = window size, random crop = window position, padded with the letterbox
value 114 where the window leaves the image); the letterbox then scales that window to the
network input. Flips and the transpose move pixels without resampling. The one exception is
the optional random-angle rotation (:func:`rotate`): the image is resampled bilinearly, the
masks by nearest neighbour. Colour jitter changes image pixels only (the padding stays 114,
as at inference).

Copy-paste (:func:`paste_instances`) needs other images, so the data set applies it
(``CocoInstanceDataset``) before :func:`augment`; its options live in :data:`DEFAULTS` too, so
one ``augment_options`` dict configures both.
"""

import math
import numbers
from typing import Collection, Dict, Optional, Tuple

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


def rotate(image: np.ndarray, masks: np.ndarray, angle_deg: float,
           pad_value: int = PAD_VALUE) -> Tuple[np.ndarray, np.ndarray]:
    """Rotates the image (H, W) or (H, W, C) and masks (N, H, W) about the image centre by
    ``angle_deg`` degrees, counter-clockwise on the displayed image (row 0 at the top) for a
    positive angle: +90 on a square image is ``np.rot90``. The output keeps the size H x W.

    The image is resampled bilinearly (edge taps clamped; rounded to nearest for integer
    dtypes); output pixels whose source lies outside the image get ``pad_value``. The masks
    are resampled by nearest neighbour, so every output pixel takes exactly one source pixel:
    masks stay 0/1 and disjoint masks stay disjoint (bilinear + threshold at 0.5 can give a
    boundary pixel to two touching instances, or to neither); outside the image they are 0.
    Multiples of 90 degrees are exact.
    """
    height, width = image.shape[:2]
    src_y, src_x = _rotation_sources(height, width, angle_deg)
    # a pixel u covers [u - 0.5, u + 0.5): the image spans [-0.5, size - 0.5)
    inside = (src_y >= -0.5) & (src_y < height - 0.5) & (src_x >= -0.5) & (src_x < width - 0.5)
    out_image = _sample_bilinear(image, src_y, src_x, inside, pad_value)
    out_masks = _sample_nearest(masks, src_y, src_x, inside)
    return out_image, out_masks


def _rotation_sources(height: int, width: int, angle_deg: float) -> Tuple[np.ndarray, np.ndarray]:
    """For each output pixel of a rotation by ``angle_deg`` (counter-clockwise as displayed)
    about the centre, the (row, col) it comes from: two (H, W) float64 arrays."""
    theta = math.radians(float(angle_deg))
    # rounded so that multiples of 90 degrees give exactly 0 and +-1: integer sources, exact rot90
    cos_t, sin_t = round(math.cos(theta), 12), round(math.sin(theta), 12)
    cy, cx = (height - 1) / 2.0, (width - 1) / 2.0
    dy = np.arange(height, dtype=np.float64)[:, None] - cy
    dx = np.arange(width, dtype=np.float64)[None, :] - cx
    # inverse mapping; with rows pointing down, this turns the picture counter-clockwise
    src_x = cx + cos_t * dx - sin_t * dy
    src_y = cy + sin_t * dx + cos_t * dy
    return src_y, src_x


def _sample_bilinear(image: np.ndarray, src_y: np.ndarray, src_x: np.ndarray,
                     inside: np.ndarray, pad_value) -> np.ndarray:
    """``image`` sampled at (src_y, src_x) bilinearly with clamped edges; ``pad_value`` where
    not ``inside``."""
    height, width = image.shape[:2]
    y = np.clip(src_y, 0, height - 1)
    x = np.clip(src_x, 0, width - 1)
    y0, x0 = np.floor(y).astype(np.intp), np.floor(x).astype(np.intp)
    y1, x1 = np.minimum(y0 + 1, height - 1), np.minimum(x0 + 1, width - 1)
    fy, fx = y - y0, x - x0
    if image.ndim == 3:
        fy, fx, inside = fy[:, :, None], fx[:, :, None], inside[:, :, None]
    img = image.astype(np.float64)
    top = img[y0, x0] * (1 - fx) + img[y0, x1] * fx
    bottom = img[y1, x0] * (1 - fx) + img[y1, x1] * fx
    value = top * (1 - fy) + bottom * fy
    if np.issubdtype(image.dtype, np.integer):
        info = np.iinfo(image.dtype)
        value = np.clip(np.floor(value + 0.5), info.min, info.max)
    return np.where(inside, value, pad_value).astype(image.dtype)


def _sample_nearest(masks: np.ndarray, src_y: np.ndarray, src_x: np.ndarray,
                    inside: np.ndarray) -> np.ndarray:
    """(N, H, W) masks sampled at the nearest pixel to (src_y, src_x); 0 where not ``inside``."""
    height, width = masks.shape[1:]
    iy = np.clip(np.floor(src_y + 0.5), 0, height - 1).astype(np.intp)
    ix = np.clip(np.floor(src_x + 0.5), 0, width - 1).astype(np.intp)
    out = masks[:, iy, ix]
    out[:, ~inside] = 0
    return np.ascontiguousarray(out)


# --- copy-paste (Ghiasi et al. 2021, "Simple Copy-Paste") -------------------------------------

MIN_VISIBLE = 0.25  # an instance keeps at least this share of its area, as in the real-data tiles


def paste_instances(image: np.ndarray, masks: np.ndarray, labels: np.ndarray,
                    src_image: np.ndarray, src_masks: np.ndarray, src_labels: np.ndarray,
                    rng: np.random.Generator, max_count: int = 8, near_prob: float = 0.5,
                    classes: Optional[Collection[int]] = None):
    """Pastes instances of ``src_image`` into ``image``; returns (image, masks, labels, pasted)
    with ``pasted`` the number of instances pasted (a later paste may have hidden and so removed
    some of them again). The inputs are not modified.

    image (H, W, 3) uint8, masks (N, H, W) uint8, labels (N,) int64; likewise the source (any
    size; it may be the target image itself). ``classes``: the labels that may be pasted
    (None: all). A number k uniform in 1..``max_count`` is drawn and k source instances of those
    classes are pasted one after the other (each one once in random order, then again if the
    source holds fewer than k; none if it holds none); each is cut out along its mask's
    bounding box, rotated by an angle uniform in [0, 360) (nothing clipped), mirrored
    left-right with probability 0.5, and placed fully inside the image (skipped when it does
    not fit). With probability ``near_prob`` it is placed near an instance of its own class
    already there (original or pasted; :func:`_near_position`), else (or when there is none,
    or that place does not fit) uniformly.

    Pasting is hard: the image takes the source pixels under the pasted mask, every mask
    already there loses those pixels, and the pasted mask and label are appended. At the end
    an instance left with less than :data:`MIN_VISIBLE` of its area (its area on entry, or
    when pasted) is removed.
    """
    for what, m, lab in (("", masks, labels), ("src_", src_masks, src_labels)):
        if len(m) != len(lab):
            raise ValueError("{0}masks and {0}labels must have one entry per instance, got {1} "
                             "masks and {2} labels".format(what, len(m), len(lab)))
    candidates = [i for i in range(len(src_labels))
                  if (classes is None or int(src_labels[i]) in classes) and src_masks[i].any()]
    count = int(rng.integers(1, int(max_count) + 1))
    # each source instance once, in random order, then again: a source tile may hold fewer
    # instances than k (the bacteria tiles hold 2 to 4), and every copy gets its own pose
    order = rng.permutation(len(candidates))
    chosen = [int(order[i % len(order)]) for i in range(count)] if len(order) else []
    height, width = image.shape[:2]
    n_old = len(masks)
    out_image = image.copy()
    out_masks = np.zeros((n_old + len(chosen), height, width), dtype=np.uint8)
    out_masks[:n_old] = masks
    out_labels = np.zeros(n_old + len(chosen), dtype=np.int64)
    out_labels[:n_old] = labels
    area = out_masks.sum(axis=(1, 2), dtype=np.int64)  # visible now
    full_area = area.copy()                            # on entry or when pasted
    n = n_old
    for j in chosen:
        src = candidates[j]
        label = int(src_labels[src])
        angle, mirror = rng.uniform(0.0, 360.0), bool(rng.random() < 0.5)
        patch = _rotated_cut_out(src_image, src_masks[src], angle, mirror)
        if patch is None:
            continue
        patch_image, patch_mask = patch
        anchor = None
        if rng.random() < near_prob:
            anchor = _random_anchor(rng, out_masks[:n], out_labels[:n], area[:n], label)
        top_left = None
        if anchor is not None:
            top_left = _near_position(rng, mask_box(anchor), patch_mask.shape, (height, width))
        if top_left is None:
            top_left = _uniform_position(rng, patch_mask.shape, (height, width))
        if top_left is None:
            continue
        area[:n] -= _paste(out_image, out_masks[:n], patch_image, patch_mask, top_left)
        y0, x0 = top_left
        out_masks[n, y0:y0 + patch_mask.shape[0], x0:x0 + patch_mask.shape[1]] = patch_mask
        out_labels[n] = label
        area[n] = full_area[n] = int(patch_mask.sum())
        n += 1
    keep = area[:n] >= MIN_VISIBLE * full_area[:n]
    return out_image, out_masks[:n][keep], out_labels[:n][keep], n - n_old


def mask_box(mask: np.ndarray) -> Tuple[int, int, int, int]:
    """(y0, x0, y1, x1) of a non-empty (H, W) mask, y1 and x1 exclusive."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def _rotated_cut_out(src_image: np.ndarray, src_mask: np.ndarray, angle_deg: float,
                     mirror: bool) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """The instance ``src_mask`` of ``src_image`` rotated by ``angle_deg`` (and mirrored
    left-right if ``mirror``), cropped to its mask's bounding box: (pixels (h, w, C), mask
    (h, w) bool), or None if nothing is left."""
    y0, x0, y1, x1 = mask_box(src_mask)
    # one pixel of real context around the box, so bilinear taps at the mask edge are image
    y0, x0 = max(0, y0 - 1), max(0, x0 - 1)
    y1, x1 = min(src_mask.shape[0], y1 + 1), min(src_mask.shape[1], x1 + 1)
    pixels, mask = src_image[y0:y1, x0:x1], src_mask[y0:y1, x0:x1]
    # a square holding the box at any angle (+2: the centre may be off by half a pixel)
    side = int(math.ceil(math.hypot(*mask.shape))) + 2
    pad = [((side - n) // 2, side - n - (side - n) // 2) for n in mask.shape]
    pixels = np.pad(pixels, pad + [(0, 0)] * (pixels.ndim - 2), mode="edge")
    mask = np.pad(mask, pad)
    pixels, masks = rotate(pixels, mask[None], angle_deg)
    mask = masks[0] > 0
    if mirror:
        pixels, mask = pixels[:, ::-1], mask[:, ::-1]
    if not mask.any():
        return None
    y0, x0, y1, x1 = mask_box(mask)
    return np.ascontiguousarray(pixels[y0:y1, x0:x1]), np.ascontiguousarray(mask[y0:y1, x0:x1])


def _random_anchor(rng: np.random.Generator, masks: np.ndarray, labels: np.ndarray,
                   area: np.ndarray, label: int) -> Optional[np.ndarray]:
    """A mask drawn uniformly among the visible instances of class ``label``, or None."""
    same = np.flatnonzero((labels == label) & (area > 0))
    if same.size == 0:
        return None
    return masks[int(same[rng.integers(same.size)])]


def _near_position(rng: np.random.Generator, anchor_box: Tuple[int, int, int, int],
                   patch_shape: Tuple[int, int],
                   image_shape: Tuple[int, int]) -> Optional[Tuple[int, int]]:
    """Top-left (y, x) that puts the centre of a ``patch_shape`` box at distance
    (half the anchor box diagonal + half the patch diagonal) * uniform(0.6, 1.0) from the
    anchor box centre, in a uniform direction: touching or slightly overlapping it, as cells in
    a colony. None if the patch would leave the image."""
    ay0, ax0, ay1, ax1 = anchor_box
    h, w = patch_shape
    reach = 0.5 * (math.hypot(ay1 - ay0, ax1 - ax0) + math.hypot(h, w)) * rng.uniform(0.6, 1.0)
    direction = rng.uniform(0.0, 2.0 * math.pi)
    cy = 0.5 * (ay0 + ay1) + reach * math.sin(direction)
    cx = 0.5 * (ax0 + ax1) + reach * math.cos(direction)
    y, x = int(round(cy - h / 2.0)), int(round(cx - w / 2.0))
    if 0 <= y <= image_shape[0] - h and 0 <= x <= image_shape[1] - w:
        return y, x
    return None


def _uniform_position(rng: np.random.Generator, patch_shape: Tuple[int, int],
                      image_shape: Tuple[int, int]) -> Optional[Tuple[int, int]]:
    """A uniform top-left (y, x) that keeps a ``patch_shape`` box inside the image, or None."""
    free_y, free_x = image_shape[0] - patch_shape[0], image_shape[1] - patch_shape[1]
    if free_y < 0 or free_x < 0:
        return None
    return int(rng.integers(free_y + 1)), int(rng.integers(free_x + 1))


def _paste(image: np.ndarray, masks: np.ndarray, patch_image: np.ndarray, patch_mask: np.ndarray,
           top_left: Tuple[int, int]) -> np.ndarray:
    """Writes the patch pixels under ``patch_mask`` into ``image`` at ``top_left`` and clears
    them from ``masks`` (both in place); returns the pixels each mask lost, (N,) int64."""
    y0, x0 = top_left
    h, w = patch_mask.shape
    image[y0:y0 + h, x0:x0 + w][patch_mask] = patch_image[patch_mask]
    covered = masks[:, y0:y0 + h, x0:x0 + w]  # a view: clearing it clears the masks
    lost = covered[:, patch_mask].sum(axis=1, dtype=np.int64)
    covered[:, patch_mask] = 0
    return lost


DEFAULTS: Dict = {
    "scale_range": (0.6, 1.6),
    "crop_prob": 0.8,      # probability of a random window; else the whole image
    "flip_prob": 0.5,
    # Up-down flip and transpose complete the eight symmetries of the square:
    # right for data without an up (microscopy, aerial), off by default.
    "vflip_prob": 0.0,
    "transpose_prob": 0.0,
    # Rotation by an angle uniform in [-rotate_max_deg, rotate_max_deg]: off by default.
    "rotate_prob": 0.0,
    "rotate_max_deg": 180.0,
    "jitter_prob": 0.8,
    "brightness": 0.25,
    "contrast": 0.25,
    "saturation": 0.25,
    # Copy-paste, applied by the data set before augment() (it needs other images); off by
    # default. classes: category names of the COCO file (None: all); max: instances pasted
    # per image at most; near: probability of placing one next to an instance of its class.
    "copy_paste_prob": 0.0,
    "copy_paste_classes": None,
    "copy_paste_max": 8,
    "copy_paste_near": 0.5,
}


def check_options(options: Optional[Dict] = None) -> Dict:
    """:data:`DEFAULTS` updated with ``options``, checked: unknown keys, probabilities outside
    [0, 1], ``rotate_max_deg`` outside [0, 180], ``copy_paste_max`` not an int >= 1 and
    ``copy_paste_classes`` not None or a list of names raise ValueError. (Whether the names
    exist is for the data set to check: it knows the categories.)"""
    opt = dict(DEFAULTS)
    if options:
        unknown = set(options) - set(DEFAULTS)
        if unknown:
            raise ValueError("unknown augmentation options: {}".format(sorted(unknown)))
        opt.update(options)
    for name, value in opt.items():
        if name.endswith("_prob") or name == "copy_paste_near":
            _check_number(name, value, 0.0, 1.0, "a probability in [0, 1]")
    _check_number("rotate_max_deg", opt["rotate_max_deg"], 0.0, 180.0, "degrees in [0, 180]")
    count = opt["copy_paste_max"]
    if not isinstance(count, numbers.Integral) or isinstance(count, bool) or count < 1:
        raise ValueError("augment_options['copy_paste_max']: expected an int >= 1, got {!r}"
                         .format(count))
    names = opt["copy_paste_classes"]
    if names is not None and (isinstance(names, str) or not isinstance(names, (list, tuple))
                              or not all(isinstance(v, str) for v in names)):
        raise ValueError("augment_options['copy_paste_classes']: expected None or a list of "
                         "category names, got {!r}".format(names))
    return opt


def _check_number(name: str, value, lo: float, hi: float, expected: str) -> None:
    if (not isinstance(value, numbers.Real) or isinstance(value, bool)
            or not lo <= float(value) <= hi):
        raise ValueError("augment_options[{!r}]: expected {}, got {!r}"
                         .format(name, expected, value))


def augment(image: np.ndarray, masks: np.ndarray, rng: np.random.Generator,
            options: Optional[Dict] = None):
    """Applies flips (and transpose), rotation, colour jitter and a random scale/crop window
    (options: :data:`DEFAULTS`, checked by :func:`check_options`; the copy_paste_* keys are
    accepted and left to the data set). Returns (image, masks, info) with info = {"window":
    (x0, y0, w, h) in the input image's pixels after the flips, transpose and rotation,
    "flipped": bool, "angle": the rotation in degrees (0.0: none)}. Instances may end up
    empty; the caller drops them after letterboxing."""
    opt = check_options(options)
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
    angle = 0.0
    if opt["rotate_prob"] > 0 and rng.random() < opt["rotate_prob"]:
        max_deg = float(opt["rotate_max_deg"])
        angle = float(rng.uniform(-max_deg, max_deg))
        image, masks = rotate(image, masks, angle)
    if rng.random() < opt["jitter_prob"]:
        image = color_jitter(image, rng, opt["brightness"], opt["contrast"], opt["saturation"])
    window = (0, 0, W, H)
    if rng.random() < opt["crop_prob"]:
        window = random_window(rng, H, W, tuple(opt["scale_range"]))
        image, masks = crop_window(image, masks, window)
    return image, masks, {"window": window, "flipped": flipped, "angle": angle}
