"""A COCO-format instance data set for training, letterboxed exactly as the runtime does.

An item is ``(image, target)``:

- ``image``: float32 tensor (3, S, S), RGB, ``(x / 255 - mean) / std`` of the letterboxed
  image (padding value 114 before normalisation), S = ``input_size``;
- ``target``: dict with ``boxes`` (N, 4) float32 x1, y1, x2, y2 in input pixels (the extent of
  each letterboxed mask: pixel u covers [u, u + 1)), ``labels`` (N,) int64 0-based (index into
  ``class_names``, the categories sorted by id), ``masks`` (N, S, S) uint8 0/1, ``image_id``
  (int), ``scale`` (float) and ``pad`` ((pad_x, pad_y) ints) of the letterbox, ``orig_size``
  ((H, W) of the image file), ``window`` ((x0, y0, w, h): the part of the (flipped, rotated)
  image that was letterboxed; the whole image without augmentation), ``flipped`` (bool),
  ``angle`` (the rotation in degrees, 0.0 for none) and ``pasted`` (the number of instances
  copy-paste added, before any were dropped).

Letterboxing and normalisation are the runtime's own ``fassst_rt.processing.letterbox`` and
``to_network_input`` (docs/architecture.md, "Pre- and post-processing"), applied by
fassst_rt/data/letterbox.py to the image and, as channels of 0/255, to the masks (a mask pixel
is set where the resampled value is >= 128; the padding value 114 falls outside). Instances left with fewer
than ``min_area`` input pixels (cut away by a crop, or too small at this input size) are
dropped, and boxes are recomputed from the masks that remain. Crowd annotations
(``iscrowd`` = 1) are skipped.

Augmentation (``augment=True``; :mod:`fassst_rt.data.augment`): copy-paste of instances from
another image of the set (off by default; applied first, so pasted instances go through the
rest), then flips, rotation (off by default), colour jitter, random scale and crop. Its randomness is a function
of ``(seed, epoch, index)``: call ``set_epoch`` each epoch.
"""

import contextlib
import io
import os
from typing import Dict, List, Optional, Sequence, Set, Tuple

import numpy as np
import torch

from ...data import augment as aug
from ...data.letterbox import boxes_from_masks, letterbox_image, letterbox_masks, normalize


class CocoInstanceDataset(torch.utils.data.Dataset):
    """Instances of a COCO annotation file (``ann_file``) whose images lie in ``image_dir``
    (default: the annotation file's directory; ``file_name`` is taken relative to it)."""

    def __init__(self, ann_file, image_dir=None, input_size: int = 416, augment: bool = False,
                 seed: int = 0, mean: Sequence[float] = (0.485, 0.456, 0.406),
                 std: Sequence[float] = (0.229, 0.224, 0.225), min_area: int = 4,
                 augment_options: Optional[Dict] = None, image_ids: Optional[Sequence[int]] = None):
        from pycocotools.coco import COCO

        with contextlib.redirect_stdout(io.StringIO()):
            self.coco = COCO(str(ann_file))
        self.image_dir = str(image_dir) if image_dir is not None else os.path.dirname(
            os.path.abspath(str(ann_file)))
        self.input_size = int(input_size)
        self.augment = bool(augment)
        self.seed = int(seed)
        self.epoch = 0
        self.mean = tuple(float(v) for v in mean)
        self.std = tuple(float(v) for v in std)
        self.min_area = int(min_area)
        self.augment_options = dict(augment_options or {})
        self.cat_ids = sorted(self.coco.getCatIds())
        self.cat_to_label = {c: i for i, c in enumerate(self.cat_ids)}
        self.class_names = [self.coco.cats[c]["name"] for c in self.cat_ids]
        self.image_ids = list(image_ids) if image_ids is not None else sorted(self.coco.getImgIds())
        self.info = dict(self.coco.dataset.get("info", {}))
        self._options = aug.check_options(self.augment_options)
        self.paste_labels = self._labels_named(self._options["copy_paste_classes"], ann_file)
        self.paste_sources = self._sources_by_group(self.paste_labels)
        if self._options["copy_paste_prob"] > 0 and not self.paste_sources:
            raise ValueError("augment_options['copy_paste_prob'] is {} but no image of {} holds an "
                             "instance of copy_paste_classes {}".format(
                                 self._options["copy_paste_prob"], ann_file,
                                 sorted(self.class_names[i] for i in self.paste_labels)))

    def __len__(self) -> int:
        return len(self.image_ids)

    def image_classes(self) -> List[List[int]]:
        """The labels (0-based) each image holds, crowd regions left out: what
        class-balanced sampling counts."""
        out = []
        for image_id in self.image_ids:
            anns = self.coco.imgToAnns.get(image_id, [])
            out.append(sorted({self.cat_to_label[a["category_id"]] for a in anns
                               if not a.get("iscrowd", 0)}))
        return out

    def _labels_named(self, names: Optional[Sequence[str]], ann_file) -> Set[int]:
        """The labels copy-paste may paste: those of the category ``names`` (None: all)."""
        if names is None:
            return set(range(len(self.class_names)))
        unknown = [n for n in names if n not in self.class_names]
        if unknown:
            raise ValueError("augment_options['copy_paste_classes']: expected category names of {} "
                             "({}), got unknown {}".format(ann_file, self.class_names, unknown))
        return {self.class_names.index(n) for n in names}

    def _group(self, index: int):
        """The image's group: its COCO record's ``dataset`` field (None when absent)."""
        return self.coco.imgs[self.image_ids[index]].get("dataset")

    def _sources_by_group(self, labels: Set[int]) -> Dict[object, List[int]]:
        """Per group, the indices of the images holding at least one (non-crowd) instance of
        ``labels``: where copy-paste takes its instances from. Pasting stays within a group
        (rods of a phase-contrast movie are not pasted into a fluorescence one)."""
        out: Dict[object, List[int]] = {}
        for index, held in enumerate(self.image_classes()):
            if labels & set(held):
                out.setdefault(self._group(index), []).append(index)
        return out

    def copy_paste(self, image: np.ndarray, masks: np.ndarray, labels: np.ndarray,
                   rng: np.random.Generator, group=None):
        """Pastes instances of a source image drawn uniformly from the images of ``group`` in
        :attr:`paste_sources` (it may be this image) into ``image``
        (:func:`fassst_rt.data.augment.paste_instances`); returns (image, masks, labels, pasted).
        An image whose group holds no source is returned unchanged."""
        sources = self.paste_sources.get(group)
        if not sources:
            return image, masks, labels, 0
        source = sources[int(rng.integers(len(sources)))]
        src_image, src_masks, src_labels, _ = self.load(source)
        return aug.paste_instances(image, masks, labels, src_image, src_masks, src_labels, rng,
                                   max_count=self._options["copy_paste_max"],
                                   near_prob=self._options["copy_paste_near"],
                                   classes=self.paste_labels)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def load(self, index: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray, Dict]:
        """The raw item: image (H, W, 3) uint8 RGB, masks (N, H, W) uint8, labels (N,) int64,
        and the image record."""
        from PIL import Image

        info = self.coco.imgs[self.image_ids[index]]
        with Image.open(os.path.join(self.image_dir, info["file_name"])) as im:
            image = np.asarray(im.convert("RGB"))
        anns = [a for a in self.coco.imgToAnns.get(info["id"], []) if not a.get("iscrowd", 0)]
        h, w = image.shape[:2]
        masks = np.zeros((len(anns), h, w), dtype=np.uint8)
        for i, a in enumerate(anns):
            m = self.coco.annToMask(a)
            if m.shape != (h, w):
                raise ValueError("annotation {} of image {} ({}) has a mask of {} but the image is {}"
                                 .format(a["id"], info["id"], info["file_name"], m.shape, (h, w)))
            masks[i] = m
        labels = np.array([self.cat_to_label[a["category_id"]] for a in anns], dtype=np.int64)
        return image, masks, labels, info

    def __getitem__(self, index: int):
        image, masks, labels, info = self.load(index)
        h, w = image.shape[:2]
        meta = {"window": (0, 0, w, h), "flipped": False, "angle": 0.0}
        pasted = 0
        if self.augment:
            rng = np.random.default_rng([self.seed, self.epoch, int(index)])
            # drawn only when enabled, so runs without copy-paste keep their random stream
            paste_prob = self._options["copy_paste_prob"]
            if paste_prob > 0 and rng.random() < paste_prob:
                image, masks, labels, pasted = self.copy_paste(image, masks, labels, rng,
                                                               info.get("dataset"))
            image, masks, meta = aug.augment(image, masks, rng, self.augment_options)
        lb = letterbox_image(np.ascontiguousarray(image), self.input_size)
        lb_image = np.asarray(lb.image)
        S = self.input_size
        lb_masks = letterbox_masks(masks, S) if len(masks) else np.zeros((0, S, S), np.uint8)
        keep = lb_masks.sum(axis=(1, 2)) >= max(1, self.min_area)
        lb_masks, labels = lb_masks[keep], labels[keep]
        boxes = boxes_from_masks(lb_masks)
        target = {
            "boxes": torch.from_numpy(boxes),
            "labels": torch.from_numpy(labels),
            "masks": torch.from_numpy(np.ascontiguousarray(lb_masks)),
            "image_id": int(info["id"]),
            "scale": float(lb.scale),
            "pad": (int(lb.pad_x), int(lb.pad_y)),
            "orig_size": (int(h), int(w)),
            "window": tuple(int(v) for v in meta["window"]),
            "flipped": bool(meta["flipped"]),
            "angle": float(meta["angle"]),
            "pasted": int(pasted),
        }
        return torch.from_numpy(normalize(lb_image, self.mean, self.std)), target


def collate(batch: List):
    """[(image, target), ...] -> (images (B, 3, S, S) float32, [target, ...])."""
    images = torch.stack([b[0] for b in batch], dim=0)
    return images, [b[1] for b in batch]
