"""CocoInstanceDataset: letterboxed as the runtime does, targets consistent with the image,
augmentations that keep image and masks in agreement."""

import json
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pycocotools")
try:
    from fassst_rt.data import augment, synthetic
    from fassst_rt.train.data import coco
except ImportError as e:  # fassst_rt needs its compiled core (fassst_rt._C)
    pytest.skip("fassst_rt does not import here ({}); build/install it first".format(e),
                allow_module_level=True)
from PIL import Image  # noqa: E402

pytestmark = [pytest.mark.train,
              pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")]  # pycocotools on NumPy 2

MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])


def ref_letterbox(image, size, pad=114):
    """Independent float64 letterbox from the definition (DESIGN.md section 5): r = min(S/H, S/W),
    bilinear resize to (round(W r), round(H r)) with half-pixel centres and clamped edges,
    rounded to nearest, centred on a canvas of `pad`."""
    h, w, c = image.shape
    r = min(size / h, size / w)
    nw, nh = int(round(w * r)), int(round(h * r))
    px, py = (size - nw) // 2, (size - nh) // 2

    def taps(n_out, n_in):
        src = np.maximum((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0)
        lo = np.minimum(np.floor(src).astype(int), n_in - 1)
        return lo, np.minimum(lo + 1, n_in - 1), src - lo

    y0, y1, fy = taps(nh, h)
    x0, x1, fx = taps(nw, w)
    f = image.astype(np.float64)
    fx, fy = fx[None, :, None], fy[:, None, None]
    top = f[y0][:, x0] * (1 - fx) + f[y0][:, x1] * fx
    bot = f[y1][:, x0] * (1 - fx) + f[y1][:, x1] * fx
    out = np.full((size, size, c), pad, np.uint8)
    out[py:py + nh, px:px + nw] = np.floor(np.clip(top * (1 - fy) + bot * fy, 0, 255) + 0.5)
    return out, r, px, py


def denormalize(t):
    x = t.numpy().transpose(1, 2, 0) * STD + MEAN
    return np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    return synthetic.generate(root, 6, size=(120, 200), seed=11, min_instances=3, max_instances=6)


def test_item_without_augmentation_matches_reference_letterbox(shapes):
    S = 160
    ds = coco.CocoInstanceDataset(shapes, input_size=S)
    d = json.load(open(shapes))
    assert ds.class_names == list(synthetic.SHAPES)
    for index in range(len(ds)):
        image, target = ds[index]
        info = ds.coco.imgs[ds.image_ids[index]]
        raw = np.asarray(Image.open(os.path.join(os.path.dirname(shapes), info["file_name"])).convert("RGB"))
        ref, r, px, py = ref_letterbox(raw, S)
        assert image.shape == (3, S, S) and image.dtype == torch.float32
        expected = ((ref / 255.0 - MEAN) / STD).transpose(2, 0, 1)
        # one grey level of rounding is allowed (float32 vs float64 interpolation)
        assert np.abs(image.numpy() - expected).max() <= 1.01 / 255 / STD.min()
        assert target["scale"] == pytest.approx(r) and target["pad"] == (px, py)
        assert target["image_id"] == info["id"] and target["orig_size"] == (120, 200)
        anns = [a for a in d["annotations"] if a["image_id"] == info["id"]]
        assert target["labels"].tolist() == [a["category_id"] - 1 for a in anns]
        masks = target["masks"].numpy()
        boxes = target["boxes"].numpy()
        assert masks.dtype == np.uint8 and masks.shape == (len(anns), S, S)
        for a, m, b in zip(anns, masks, boxes):
            full = ds.coco.annToMask(a)
            ref_m = ref_letterbox(full[:, :, None] * np.uint8(255), S)[0][:, :, 0] >= 128
            assert np.sum(ref_m != m.astype(bool)) <= 0.02 * max(1, ref_m.sum())
            ys, xs = np.nonzero(m)
            np.testing.assert_array_equal(b, [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
            # back to frame pixels: x_frame = (x_net - pad_x) / r, close to the COCO bbox
            x, y, w, h = a["bbox"]
            back = [(b[0] - px) / r, (b[1] - py) / r, (b[2] - px) / r, (b[3] - py) / r]
            np.testing.assert_allclose(back, [x, y, x + w, y + h], atol=1.5 / r + 0.5)


def _flat_dataset(root, n=3, size=(90, 150)):
    """Each instance a flat, unique colour on black: the colour tells which instance a pixel is."""
    rng = np.random.default_rng(0)
    images, anns, colours = [], [], {}
    for i in range(n):
        img = np.zeros(size + (3,), np.uint8)
        for k in range(5):
            h, w = rng.integers(10, 30, 2)
            y, x = rng.integers(0, size[0] - h), rng.integers(0, size[1] - w)
            m = np.zeros(size, bool)
            m[y:y + h, x:x + w] = True
            for prev in [a for a in anns if a["image_id"] == i + 1]:  # keep masks disjoint
                prev_m = coco_mask_decode(prev)
                m &= ~prev_m
            if m.sum() < 20:
                continue
            colour = (40 + 50 * k, 255 - 40 * k, 60 + 37 * (k + i) % 190)
            img[m] = colour
            a = synthetic.mask_to_annotation(m)
            a.update(id=len(anns) + 1, image_id=i + 1, category_id=1 + k % 2)
            anns.append(a)
            colours[a["id"]] = np.array(colour)
        Image.fromarray(img).save(os.path.join(root, "{}.png".format(i)))
        images.append({"id": i + 1, "file_name": "{}.png".format(i), "height": size[0], "width": size[1]})
    path = os.path.join(root, "flat.json")
    json.dump({"images": images, "annotations": anns,
               "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}, open(path, "w"))
    return path, colours


def coco_mask_decode(a):
    from pycocotools import mask as mask_utils

    return mask_utils.decode(a["segmentation"]).astype(bool)


def test_augmentations_keep_image_and_masks_in_agreement(tmp_path):
    path, colours = _flat_dataset(str(tmp_path))
    S = 128
    ds = coco.CocoInstanceDataset(path, input_size=S, augment=True, seed=3,
                                  augment_options={"jitter_prob": 0.0, "scale_range": (0.5, 2.5)})
    n_orig = {i: len(ds.coco.imgToAnns[i]) for i in ds.image_ids}
    palette = np.array(list(colours.values()), float)
    saw_flip = saw_drop = False
    for epoch in range(6):
        ds.set_epoch(epoch)
        for index in range(len(ds)):
            image, t = ds[index]
            img = denormalize(image).astype(float)
            masks = t["masks"].numpy().astype(bool)
            saw_flip |= t["flipped"]
            saw_drop |= len(masks) < n_orig[t["image_id"]]
            assert len(masks) == len(t["boxes"]) == len(t["labels"])
            for m, b in zip(masks, t["boxes"].numpy()):
                assert m.sum() >= ds.min_area
                ys, xs = np.nonzero(m)
                np.testing.assert_array_equal(b, [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
                assert 0 <= b[0] < b[2] <= S and 0 <= b[1] < b[3] <= S
                # the image under the mask is that instance's colour (interior pixels)
                from scipy import ndimage as ndi
                inner = ndi.binary_erosion(m)
                if inner.sum() >= 4:
                    med = np.median(img[inner], axis=0)
                    assert np.abs(palette - med).sum(1).min() <= 6, (med, epoch, index)
            # every instance-coloured pixel well inside the content lies in some kept mask
            union = masks.any(0) if len(masks) else np.zeros((S, S), bool)
            coloured = np.abs(palette[None, None] - img[:, :, None]).sum(-1).min(-1) <= 6
            from scipy import ndimage as ndi
            core = ndi.binary_erosion(coloured, iterations=2)
            assert (core & ~union).sum() <= 2 * ds.min_area
    assert saw_flip and saw_drop


def test_augmentation_is_deterministic_per_seed_epoch_index(shapes):
    ds = coco.CocoInstanceDataset(shapes, input_size=96, augment=True, seed=5)
    a1, t1 = ds[2]
    a2, t2 = ds[2]
    assert torch.equal(a1, a2) and torch.equal(t1["masks"], t2["masks"])
    ds.set_epoch(1)
    b, tb = ds[2]
    assert not torch.equal(a1, b)
    other = coco.CocoInstanceDataset(shapes, input_size=96, augment=True, seed=6)
    assert not torch.equal(a1, other[2][0])


def test_crop_window_pads_image_with_114_and_masks_with_0():
    img = np.full((10, 20, 3), 7, np.uint8)
    masks = np.ones((2, 10, 20), np.uint8)
    out, om = augment.crop_window(img, masks, (-5, 3, 30, 10))
    assert out.shape == (10, 30, 3) and om.shape == (2, 10, 30)
    assert (out[:7, 5:25] == 7).all() and (out[:, :5] == 114).all() and (out[7:] == 114).all()
    assert om[:, :7, 5:25].all() and om[:, :, :5].sum() == 0 and om[:, 7:].sum() == 0


def test_grey_images_become_three_equal_channels_and_collate(tmp_path):
    g = (np.arange(40 * 60) % 251).astype(np.uint8).reshape(40, 60)
    Image.fromarray(g).save(tmp_path / "g.png")
    m = np.zeros((40, 60), bool)
    m[5:20, 10:30] = True
    a = synthetic.mask_to_annotation(m)
    a.update(id=1, image_id=1, category_id=1)
    json.dump({"images": [{"id": 1, "file_name": "g.png", "height": 40, "width": 60}], "annotations": [a],
               "categories": [{"id": 1, "name": "x"}]}, open(tmp_path / "g.json", "w"))
    ds = coco.CocoInstanceDataset(tmp_path / "g.json", input_size=64)
    image, t = ds[0]
    rgb = denormalize(image)
    assert (rgb[:, :, 0] == rgb[:, :, 1]).all() and (rgb[:, :, 1] == rgb[:, :, 2]).all()
    # an image without instances (an empty tile) is a normal item
    with open(tmp_path / "g.json") as f:
        d = json.load(f)
    d["images"].append({"id": 2, "file_name": "g.png", "height": 40, "width": 60})
    json.dump(d, open(tmp_path / "g2.json", "w"))
    for augment_ in (False, True):
        empty = coco.CocoInstanceDataset(tmp_path / "g2.json", input_size=64, augment=augment_)[1][1]
        assert empty["boxes"].shape == (0, 4) and empty["masks"].shape == (0, 64, 64)
        assert empty["labels"].shape == (0,)
    images, targets = coco.collate([ds[0], ds[0]])
    assert images.shape == (2, 3, 64, 64) and len(targets) == 2
    assert targets[0]["boxes"].dtype == torch.float32 and targets[0]["labels"].dtype == torch.int64


def test_runtime_letterbox_agrees_with_reference():
    from fassst_rt import processing

    rng = np.random.default_rng(0)
    for h, w, c in [(37, 91, 3), (120, 64, 1), (5, 5, 7)]:
        img = rng.integers(0, 256, (h, w, c)).astype(np.uint8)
        lb = processing.letterbox(img, 64)
        ref, r, px, py = ref_letterbox(img, 64)
        out = np.asarray(lb.image).reshape(64, 64, c)
        assert (lb.pad_x, lb.pad_y) == (px, py) and lb.scale == pytest.approx(r)
        assert np.abs(out.astype(int) - ref).max() <= 1
