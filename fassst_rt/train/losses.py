"""Training losses: L = 5.75 L_mask + 3 L_loc + 1.25 L_cls (paper eq. 5).

- ``L_cls``: sigmoid focal loss (alpha 0.25, gamma 2) over every cell and
  class, summed and divided by the number of positive cells (at least 1).
- ``L_loc``: on the positive cells, ``(1 - GIoU(decoded box, GT box))`` plus the
  L1 distance of the box parameters (dx, dy, lw, lh) to their targets (mean of
  the four), averaged over positive cells. The paper names a focal-based loss;
  focal loss is a classification loss (it reweights a log-likelihood of a
  binary label), and box coordinates are continuous, so we use the
  regression losses of current detectors instead (docs/model.md).
- ``L_mask``: ``1 - Dice`` per instance, averaged: the tail's output on the RFF
  of the instance's ground-truth box (optionally jittered) against its
  ground-truth mask cropped to the same box with the same aligned RoIAlign
  geometry at 2 S1 x 2 S1 (stride 1) and thresholded at 0.5. Every ground-truth
  instance counts, assigned to a cell or not (at most ``max_mask_instances``
  per batch, a random subset). By default (``mask_dice="symmetric"``) the Dice
  is averaged over the box's two classes, instance and background:
  ``1 - (Dice(p, g) + Dice(1 - p, 1 - g)) / 2``. The instance-only Dice
  (``"foreground"``, the paper's literal wording) has a degenerate optimum
  inside a box, which the instance mostly fills: predicting the whole box
  scores Dice ~0.8, drives every logit up and saturates the sigmoid, and
  training stalls there (docs/model.md has the measurement).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from .rff import roi_align
from .targets import GridTargets, build_targets

__all__ = ["sigmoid_focal_loss", "dice_loss", "mask_loss", "generalized_iou", "box_loss",
           "mask_targets",
           "LossOutput", "FassstLoss"]


def sigmoid_focal_loss(logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25,
                       gamma: float = 2.0) -> torch.Tensor:
    """Elementwise focal loss of Lin et al. (RetinaNet):
    ``-alpha_t (1 - p_t)^gamma log(p_t)`` with p = sigmoid(logits), alpha_t =
    alpha for positives and 1 - alpha for negatives (alpha < 0: no weighting)."""
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return loss


def dice_loss(logits: torch.Tensor, targets: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Per-instance ``1 - Dice``: ``1 - (2 sum(p g) + smooth) / (sum(p) + sum(g) + smooth)``
    with p = sigmoid(logits); logits, targets (K, ...) -> (K,)."""
    p = torch.sigmoid(logits).flatten(1)
    g = targets.flatten(1).to(p.dtype)
    inter = (p * g).sum(1)
    return 1.0 - (2.0 * inter + smooth) / (p.sum(1) + g.sum(1) + smooth)


def mask_loss(logits: torch.Tensor, targets: torch.Tensor, mode: str = "symmetric",
              smooth: float = 1.0) -> torch.Tensor:
    """Per-instance L_mask (K,): ``"foreground"``: 1 - Dice(p, g);
    ``"symmetric"``: 1 - (Dice(p, g) + Dice(1 - p, 1 - g)) / 2."""
    fg = dice_loss(logits, targets, smooth)
    if mode == "foreground":
        return fg
    if mode != "symmetric":
        raise ValueError(f"mask loss mode must be symmetric or foreground, got {mode!r}")
    # 1 - sigmoid(x) = sigmoid(-x): the background's probability
    return 0.5 * (fg + dice_loss(-logits, 1.0 - targets.to(logits.dtype), smooth))


def generalized_iou(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """GIoU of paired boxes (N, 4) x1, y1, x2, y2 -> (N,)."""
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    lt = torch.maximum(a[:, :2], b[:, :2])
    rb = torch.minimum(a[:, 2:], b[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(1)
    union = area_a + area_b - inter
    iou = inter / (union + eps)
    lt_c = torch.minimum(a[:, :2], b[:, :2])
    rb_c = torch.maximum(a[:, 2:], b[:, 2:])
    hull = (rb_c - lt_c).clamp(min=0).prod(1)
    return iou - (hull - union) / (hull + eps)


def box_loss(pred_boxes: torch.Tensor, gt_boxes: torch.Tensor, pred_params: torch.Tensor,
             gt_params: torch.Tensor, l1_weight: float = 1.0) -> torch.Tensor:
    """Per-box ``(1 - GIoU) + l1_weight * mean|params - targets|`` (N,)."""
    giou = generalized_iou(pred_boxes, gt_boxes)
    l1 = (pred_params - gt_params).abs().mean(1)
    return (1.0 - giou) + l1_weight * l1


def mask_targets(masks: torch.Tensor, rois: torch.Tensor, size: int) -> torch.Tensor:
    """Ground-truth masks cropped to their boxes as the tail sees them.

    masks (N, H, W) 0/1; rois (K, 5) rows [mask_index, x1, y1, x2, y2] (input
    px). Aligned RoIAlign at stride 1, one sample per bin, ``size`` x ``size``,
    thresholded at 0.5 -> (K, size, size) float 0/1."""
    crop = roi_align(masks[:, None].float(), rois, size, stride=1.0)
    return (crop[:, 0] >= 0.5).float()


@dataclass
class LossOutput:
    total: torch.Tensor
    mask: torch.Tensor
    loc: torch.Tensor
    cls: torch.Tensor
    num_positive: int
    num_instances: int
    num_dropped: int
    num_moved: int
    num_masks: int

    def parts(self) -> dict[str, float]:
        return {"loss": float(self.total.detach()), "mask": float(self.mask),
                "loc": float(self.loc), "cls": float(self.cls)}


class FassstLoss:
    """Computes the three losses of a batch from the network's raw outputs."""

    def __init__(self, weights: Sequence[float] = (5.75, 3.0, 1.25), focal_alpha: float = 0.25,
                 focal_gamma: float = 2.0, assign_rule: str = "nearest_free",
                 max_mask_instances: int = 64, mask_box_jitter: float = 0.0,
                 l1_weight: float = 1.0, mask_dice: str = "symmetric",
                 centre_radius: float = 0.0):
        self.w_mask, self.w_loc, self.w_cls = (float(w) for w in weights)
        self.alpha, self.gamma = float(focal_alpha), float(focal_gamma)
        self.rule = assign_rule
        self.centre_radius = float(centre_radius)
        self.max_mask_instances = int(max_mask_instances)
        self.jitter = float(mask_box_jitter)
        self.l1_weight = float(l1_weight)
        if mask_dice not in ("symmetric", "foreground"):
            raise ValueError(f"mask_dice must be symmetric or foreground, got {mask_dice!r}")
        self.mask_dice = mask_dice

    def mask_rois(self, targets: Sequence[dict], generator: torch.Generator | None,
                  device: torch.device):
        """(rois for the features (K, 5), rois for the GT masks (K, 5), masks (N, H, W))."""
        per_image = []
        for i, t in enumerate(targets):
            n = int(torch.as_tensor(t["boxes"]).reshape(-1, 4).shape[0])
            per_image += [(i, j) for j in range(n)]
        if not per_image:
            return None
        if len(per_image) > self.max_mask_instances:
            pick = torch.randperm(len(per_image), generator=generator)[:self.max_mask_instances]
            per_image = [per_image[k] for k in sorted(pick.tolist())]
        boxes = torch.stack([torch.as_tensor(targets[i]["boxes"], dtype=torch.float32)
                             .reshape(-1, 4)[j].cpu() for i, j in per_image])
        if self.jitter > 0:
            size = (boxes[:, 2:] - boxes[:, :2]).clamp(min=1.0).repeat(1, 2)
            noise = torch.rand(boxes.shape, generator=generator) * 2 - 1
            boxes = boxes + noise * self.jitter * size
        masks = torch.stack([torch.as_tensor(targets[i]["masks"])[j].cpu() for i, j in per_image])
        batch_idx = torch.tensor([float(i) for i, _ in per_image])[:, None]
        mask_idx = torch.arange(len(per_image), dtype=torch.float32)[:, None]
        feat_rois = torch.cat([batch_idx, boxes], 1).to(device)
        gt_rois = torch.cat([mask_idx, boxes], 1)
        return feat_rois, gt_rois, masks

    def __call__(self, model, outputs: dict, targets: Sequence[dict],
                 generator: torch.Generator | None = None) -> LossOutput:
        cfg = model.config
        p1 = outputs["p1"]
        device = p1.device
        height, width = (int(v) for v in outputs["image_size"])
        grid: GridTargets = build_targets(targets, cfg.S, height, width, cfg.num_classes,
                                          self.rule, device, self.centre_radius)
        num_pos = grid.num_positive
        norm = max(1.0, float(num_pos))
        logits = outputs["cls_logits"]
        l_cls = sigmoid_focal_loss(logits, grid.classes, self.alpha, self.gamma).sum() / norm
        pos = grid.positive
        if num_pos > 0:
            l_loc = box_loss(outputs["boxes"][pos], grid.boxes[pos], outputs["box_params"][pos],
                             grid.box_params[pos], self.l1_weight).sum() / norm
        else:
            l_loc = outputs["boxes"].sum() * 0.0
        rois = self.mask_rois(targets, generator, device)
        if rois is None:
            l_mask = p1.sum() * 0.0 + sum(p.sum() for p in model.tail.parameters()) * 0.0
            num_masks = 0
        else:
            feat_rois, gt_rois, masks = rois
            gt = mask_targets(masks, gt_rois, cfg.mask_size).to(device)
            pred = model.forward_masks(outputs["p1"], outputs["p2"], outputs["p3"], feat_rois)
            l_mask = mask_loss(pred[:, 0], gt, self.mask_dice).mean()
            num_masks = gt.shape[0]
        total = self.w_mask * l_mask + self.w_loc * l_loc + self.w_cls * l_cls
        return LossOutput(total, l_mask.detach(), l_loc.detach(), l_cls.detach(), num_pos,
                          grid.num_instances, grid.num_dropped, grid.num_moved, num_masks)
