"""Focal, Dice, GIoU and the combined loss against hand-computed values."""

import math

import pytest

torch = pytest.importorskip("torch")

from fassst_rt.train.config import ModelConfig  # noqa: E402
from fassst_rt.train.losses import (FassstLoss, box_loss, dice_loss, generalized_iou,  # noqa: E402
                                    mask_loss, mask_targets, sigmoid_focal_loss)
from fassst_rt.train.network import FASSST, encode_boxes  # noqa: E402
from fassst_rt.train.targets import build_targets  # noqa: E402

pytestmark = pytest.mark.train


def sig(x):
    return 1 / (1 + math.exp(-x))


def test_focal_loss_by_hand():
    logits = torch.tensor([0.0, 0.0, 2.0, -3.0, 4.0], dtype=torch.float64)
    labels = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0], dtype=torch.float64)
    got = sigmoid_focal_loss(logits, labels, alpha=0.25, gamma=2.0)
    ln2 = math.log(2)
    want = [
        0.25 * 0.5 ** 2 * ln2,                                     # p = 0.5, positive
        0.75 * 0.5 ** 2 * ln2,                                     # p = 0.5, negative
        0.25 * (1 - sig(2)) ** 2 * -math.log(sig(2)),              # confident positive
        0.75 * sig(-3) ** 2 * -math.log(1 - sig(-3)),              # confident negative
        0.75 * sig(4) ** 2 * -math.log(1 - sig(4)),                # wrong, confident
    ]
    assert torch.allclose(got, torch.tensor(want, dtype=torch.float64), rtol=1e-12)
    assert want[0] == pytest.approx(0.0433216988, rel=1e-8)
    # gamma 0, alpha < 0: plain binary cross-entropy
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    assert torch.allclose(sigmoid_focal_loss(logits, labels, alpha=-1, gamma=0.0), bce)


def test_dice_loss_by_hand():
    big = 60.0  # sigmoid(+-60) is 1 / 0 to double precision
    pred = torch.tensor([[[big, big], [-big, -big]]], dtype=torch.float64)
    gt = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]], dtype=torch.float64)
    # inter 1, sum p 2, sum g 1: 1 - (2 + 1) / (3 + 1)
    assert dice_loss(pred, gt).item() == pytest.approx(0.25, abs=1e-12)
    assert dice_loss(pred, gt, smooth=0.0).item() == pytest.approx(1 - 2 / 3, abs=1e-12)
    # logits 0 everywhere: p = 0.5 on 4 pixels, g has 1 pixel: 1 - (1 + 1) / (2 + 1 + 1)
    assert dice_loss(torch.zeros(1, 2, 2), gt.float()).item() == pytest.approx(0.5)
    # perfect prediction and empty-vs-empty both give ~0
    assert dice_loss(pred, (pred > 0).double()).item() == pytest.approx(0.0, abs=1e-12)
    assert dice_loss(-pred.abs(), torch.zeros_like(gt)).item() == pytest.approx(0.0, abs=1e-12)
    two = dice_loss(torch.cat([pred, -pred]), torch.cat([gt, gt]))
    assert two.shape == (2,)


def test_symmetric_mask_loss_by_hand():
    big = 60.0
    pred = torch.tensor([[[big, big], [-big, -big]]], dtype=torch.float64)
    gt = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]], dtype=torch.float64)
    # instance: 1 - 3/4; background 1 - p = [[0, 0], [1, 1]] vs 1 - g = [[0, 1], [1, 1]]:
    # inter 2, sums 2 and 3: 1 - (4 + 1) / (5 + 1)
    assert mask_loss(pred, gt).item() == pytest.approx((0.25 + 1 / 6) / 2, abs=1e-12)
    assert mask_loss(pred, gt, "foreground").item() == pytest.approx(0.25, abs=1e-12)
    # "the whole box" is good for the instance-only Dice but not for the symmetric one
    full = torch.full((1, 2, 2), big, dtype=torch.float64)
    most = torch.tensor([[[1.0, 1.0], [1.0, 0.0]]], dtype=torch.float64)
    assert mask_loss(full, most, "foreground").item() == pytest.approx(1 - 7 / 8, abs=1e-12)
    assert mask_loss(full, most).item() == pytest.approx((1 / 8 + 1 / 2) / 2, abs=1e-12)
    with pytest.raises(ValueError):
        mask_loss(full, most, "bogus")


def test_giou_by_hand():
    f64 = torch.float64
    a = torch.tensor([[0.0, 0, 2, 2], [0, 0, 1, 1], [0, 0, 2, 2], [0, 0, 4, 4]], dtype=f64)
    b = torch.tensor([[1.0, 1, 3, 3], [2, 0, 3, 1], [0, 0, 2, 2], [1, 1, 2, 2]], dtype=f64)
    want = [1 / 7 - 2 / 9, 0 - 1 / 3, 1.0, 1 / 16]
    assert torch.allclose(generalized_iou(a, b), torch.tensor(want, dtype=torch.float64), atol=1e-9)
    pa = torch.tensor([[0.1, -0.2, 0.0, 0.3]])
    pb = torch.tensor([[0.0, 0.0, 0.5, 0.3]])
    got = box_loss(a[:1].float(), b[:1].float(), pa, pb)
    assert got.item() == pytest.approx((1 - want[0]) + (0.1 + 0.2 + 0.5 + 0.0) / 4, rel=1e-6)


def test_mask_targets_use_the_aligned_geometry():
    masks = torch.zeros(1, 40, 40, dtype=torch.uint8)
    masks[0, 10:20, 8:28] = 1                              # box x 8..28, y 10..20
    exact = mask_targets(masks, torch.tensor([[0, 8.0, 10.0, 28.0, 20.0]]), 8)
    assert exact.shape == (1, 8, 8) and bool((exact == 1).all())
    # a box twice as wide, centred: the middle half of the columns is inside
    wide = mask_targets(masks, torch.tensor([[0, -2.0, 10.0, 38.0, 20.0]]), 8)
    assert wide[0].sum(0).tolist() == [0, 0, 8, 8, 8, 8, 0, 0]
    # a box off the mask is empty
    assert mask_targets(masks, torch.tensor([[0, 30.0, 30.0, 40.0, 40.0]]), 4).sum() == 0


def small_model(**kw):
    torch.manual_seed(0)
    cfg = ModelConfig(input_size=64, width_mult=0.35, M=8, tail_channels=8, S1=8,
                      iam_channels=16, S=4, num_classes=2, **kw)
    return FASSST(cfg).train()


def make_targets():
    m1 = torch.zeros(3, 64, 64, dtype=torch.uint8)
    m1[0, 4:20, 4:12] = 1
    m1[1, 30:60, 34:60] = 1
    m1[2, 6:14, 6:10] = 1      # centre in the same cell as instance 0
    boxes = torch.tensor([[4.0, 4, 12, 20], [34, 30, 60, 60], [6, 6, 10, 14]])
    return [{"boxes": boxes, "labels": torch.tensor([0, 1, 1]), "masks": m1},
            {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long),
             "masks": torch.zeros(0, 64, 64, dtype=torch.uint8)}]


def test_combined_loss_equals_its_parts_computed_independently():
    model = small_model()
    images = torch.randn(2, 3, 64, 64)
    out = model.forward_train(images)
    targets = make_targets()
    crit = FassstLoss(assign_rule="larger", max_mask_instances=64, mask_box_jitter=0.0)
    res = crit(model, out, targets)
    # assignment: cell size 16; instance 0 centre (8, 12) -> cell 0; instance 2
    # centre (8, 10) -> cell 0 (smaller: dropped); instance 1 (47, 45) -> cell 10
    assert res.num_positive == 2 and res.num_dropped == 1 and res.num_instances == 3
    cls_t = torch.zeros(2, 16, 2)
    cls_t[0, 0, 0] = 1
    cls_t[0, 10, 1] = 1
    l_cls = sigmoid_focal_loss(out["cls_logits"], cls_t).sum() / 2
    gt_boxes = targets[0]["boxes"][:2]
    cells = torch.tensor([0, 10])
    params = encode_boxes(gt_boxes, cells, 4, 64, 64)
    l_loc = box_loss(out["boxes"][0, cells], gt_boxes, out["box_params"][0, cells],
                     params).sum() / 2
    rois = torch.cat([torch.zeros(3, 1), targets[0]["boxes"]], 1)
    pred = model.forward_masks(out["p1"], out["p2"], out["p3"], rois)
    gt = mask_targets(targets[0]["masks"], torch.cat([torch.arange(3.0)[:, None],
                                                      targets[0]["boxes"]], 1), 16)
    l_mask = mask_loss(pred[:, 0], gt, "symmetric").mean()
    assert res.cls.item() == pytest.approx(l_cls.item(), rel=1e-5)
    assert res.loc.item() == pytest.approx(l_loc.item(), rel=1e-5)
    assert res.mask.item() == pytest.approx(l_mask.item(), rel=1e-5)
    assert res.num_masks == 3  # the dropped instance still trains the tail
    want = 5.75 * l_mask + 3 * l_loc + 1.25 * l_cls
    assert res.total.item() == pytest.approx(want.item(), rel=1e-5)
    # hand-checkable: the untrained classifier sits at the prior p = 0.01
    p = torch.sigmoid(out["cls_logits"]).detach()
    assert float(p.mean()) == pytest.approx(0.01, rel=0.2)


def test_gradients_reach_every_part_and_empty_batches_work():
    model = small_model()
    out = model.forward_train(torch.randn(2, 3, 64, 64))
    FassstLoss()(model, out, make_targets()).total.backward()
    for name in ("backbone.features.0.0.weight", "iam.predict.weight", "iam.pre.0.0.weight",
                 "pyramid.0.1.weight", "pyramid.2.1.weight", "tail.predict.weight",
                 "tail.deconv.weight"):
        g = dict(model.named_parameters())[name].grad
        assert g is not None and float(g.abs().sum()) > 0, name
    model.zero_grad()
    empty = [make_targets()[1]] * 2
    out = model.forward_train(torch.randn(2, 3, 64, 64))
    res = FassstLoss()(model, out, empty)
    assert res.num_positive == 0 and res.mask.item() == 0 and res.loc.item() == 0
    # negatives only: the focal sum over all 2 * 16 * 2 entries, normalised by 1
    want = sigmoid_focal_loss(out["cls_logits"], torch.zeros(2, 16, 2)).sum()
    assert res.cls.item() == pytest.approx(want.item(), rel=1e-6)
    res.total.backward()


def test_mask_instance_cap_and_jitter():
    model = small_model()
    out = model.forward_train(torch.randn(2, 3, 64, 64))
    g = torch.Generator().manual_seed(0)
    res = FassstLoss(max_mask_instances=2, mask_box_jitter=0.1)(model, out, make_targets(), g)
    assert res.num_masks == 2 and math.isfinite(res.total.item())


def test_build_targets_default_rule_keeps_the_second_instance():
    g = build_targets(make_targets(), 4, 64, 64, 2)
    assert g.num_positive == 3 and g.num_dropped == 0 and g.num_moved == 1
