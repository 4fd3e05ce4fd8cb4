"""Assignment of ground-truth instances to IAM grid cells, and the per-cell
training targets (docs/model.md, "Assignment").

The grid has S x S cells; cell c = row * S + col covers
[col * W/S, (col + 1) * W/S) x [row * H/S, (row + 1) * H/S) of the input. An
instance's *home* cell is the one holding the centre of its box (centres on the
far border go to the last cell). One cell predicts at most one instance, so
when several centres share a cell a rule decides:

- ``"larger"``: the instance with the larger box area keeps the cell (equal
  areas: the lower instance index); the others are dropped.
- ``"nearest_free"`` (default): first every instance, in descending box area
  (ties: lower index), takes its home cell if still free; then each instance
  left over, in the same order, takes the free cell among the 8 neighbours of
  its home cell whose centre is nearest to its box centre (distance measured
  in cell units; ties: lower cell index). Instances with no free neighbour are
  dropped. A cell's box parameters then reach up to 1.5 cells from its centre,
  which the (unbounded) offset parametrisation allows.

Dropped instances get no detection target (they still train the mask tail:
losses.py uses every ground-truth instance for L_mask). ``assign_cells``
returns how many were dropped; the trainer logs the running total.

Optionally (``centre_radius`` r > 0, off by default, not in the paper) an
instance also owns the cells left free whose centre lies inside its box and
within r cells of its box centre on each axis (``centre_region_cells``), in the
manner of FCOS's centre sampling. With one positive cell per instance, an
object spanning several cells (a 90 px rod over three 32 px cells) trains its
neighbour cells, whose features look alike, as negatives; its scores then
spread, middling, over the cells. Round objects smaller than a cell gain no
extra cell: a neighbour's centre is a whole cell from the home cell's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from .network import encode_boxes

__all__ = ["Assignment", "assign_cells", "centre_region_cells", "GridTargets", "build_targets",
           "RULES"]

RULES = ("nearest_free", "larger")


@dataclass
class Assignment:
    cells: torch.Tensor   #: (N,) int64 cell of each instance, -1 when dropped
    num_dropped: int
    num_moved: int        #: instances placed in a neighbouring cell (nearest_free)


def _home_cells(boxes: torch.Tensor, S: int, height: int, width: int):
    cx = (boxes[:, 0] + boxes[:, 2]).double() * 0.5
    cy = (boxes[:, 1] + boxes[:, 3]).double() * 0.5
    fx, fy = cx / (width / S), cy / (height / S)       # centre in cell units
    col = fx.floor().clamp(0, S - 1).long()
    row = fy.floor().clamp(0, S - 1).long()
    return row, col, fx, fy


def assign_cells(boxes: torch.Tensor, S: int, height: int, width: int,
                 rule: str = "nearest_free") -> Assignment:
    """Assigns each box (N, 4) x1, y1, x2, y2 (input px) to a cell, see the
    module docstring."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    boxes = torch.as_tensor(boxes).detach().cpu().reshape(-1, 4)
    n = boxes.shape[0]
    cells = torch.full((n,), -1, dtype=torch.long)
    if n == 0:
        return Assignment(cells, 0, 0)
    row, col, fx, fy = _home_cells(boxes, S, height, width)
    area = ((boxes[:, 2] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 1]).clamp(min=0))
    area = area.double().tolist()
    order = sorted(range(n), key=lambda i: (-area[i], i))
    taken: set[int] = set()
    left: list[int] = []
    for i in order:
        c = int(row[i]) * S + int(col[i])
        if c in taken:
            left.append(i)
        else:
            taken.add(c)
            cells[i] = c
    moved = 0
    if rule == "nearest_free":
        for i in left:
            r0, c0 = int(row[i]), int(col[i])
            best = None
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    r, c = r0 + dr, c0 + dc
                    if (dr == 0 and dc == 0) or not (0 <= r < S and 0 <= c < S):
                        continue
                    cell = r * S + c
                    if cell in taken:
                        continue
                    d2 = (float(fx[i]) - (c + 0.5)) ** 2 + (float(fy[i]) - (r + 0.5)) ** 2
                    d2 = round(d2, 9)  # equal distances tie exactly (lower cell wins)
                    if best is None or (d2, cell) < best:
                        best = (d2, cell)
            if best is not None:
                taken.add(best[1])
                cells[i] = best[1]
                moved += 1
    dropped = int((cells < 0).sum())
    return Assignment(cells, dropped, moved)


def centre_region_cells(boxes: torch.Tensor, taken: torch.Tensor, S: int, height: int,
                        width: int, radius: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Extra positive cells of the centre regions (module docstring): returns
    (instance indices (E,), cells (E,)). ``taken`` (S*S,) bool marks the cells
    already assigned; they stay with their instance. A free cell inside the
    regions of several instances goes to the one whose box centre is nearest
    (squared distance in cell units; ties: lower instance index)."""
    boxes = torch.as_tensor(boxes).detach().cpu().reshape(-1, 4).double()
    empty = torch.zeros(0, dtype=torch.long)
    if radius <= 0 or boxes.shape[0] == 0:
        return empty, empty
    cw, ch = width / S, height / S
    centre = (torch.arange(S, dtype=torch.float64) + 0.5)
    cell_x = centre.repeat(S) * cw               # cell c = row * S + col
    cell_y = centre.repeat_interleave(S) * ch
    bx = (boxes[:, 0] + boxes[:, 2]) * 0.5
    by = (boxes[:, 1] + boxes[:, 3]) * 0.5
    dx = (cell_x[None, :] - bx[:, None]) / cw    # (N, S*S), cell units
    dy = (cell_y[None, :] - by[:, None]) / ch
    inside = ((cell_x[None, :] >= boxes[:, 0:1]) & (cell_x[None, :] <= boxes[:, 2:3])
              & (cell_y[None, :] >= boxes[:, 1:2]) & (cell_y[None, :] <= boxes[:, 3:4]))
    near = (dx.abs() <= radius) & (dy.abs() <= radius)
    ok = inside & near & ~torch.as_tensor(taken, dtype=torch.bool)[None, :]
    d2 = torch.where(ok, (dx * dx + dy * dy).round(decimals=9),
                     torch.full_like(dx, float("inf")))
    best_d2, best = d2.min(0)                    # min returns the first (lowest) index on ties
    cells = torch.nonzero(torch.isfinite(best_d2)).flatten()
    return best[cells], cells


@dataclass
class GridTargets:
    """Per-cell targets of a batch (B images, n = S*S cells, C classes)."""

    positive: torch.Tensor     #: (B, n) bool: a ground-truth instance is assigned to the cell
    classes: torch.Tensor      #: (B, n, C) float 0/1 one-hot (all zero for negatives)
    box_params: torch.Tensor   #: (B, n, 4) encoded (dx, dy, lw, lh) targets (0 for negatives)
    boxes: torch.Tensor        #: (B, n, 4) x1, y1, x2, y2 targets (0 for negatives)
    gt_index: torch.Tensor     #: (B, n) int64 index into the image's instances, -1 negatives
    num_instances: int
    num_dropped: int
    num_moved: int

    @property
    def num_positive(self) -> int:
        return int(self.positive.sum())

    @property
    def num_extra(self) -> int:
        """Centre-region cells: the positives beyond the one cell of each assigned instance."""
        return self.num_positive - (self.num_instances - self.num_dropped)


def build_targets(targets: Sequence[dict], S: int, height: int, width: int, num_classes: int,
                  rule: str = "nearest_free", device: torch.device | str | None = None,
                  centre_radius: float = 0.0) -> GridTargets:
    """Grid targets of a batch from the loader's target dicts (``boxes`` (N, 4),
    ``labels`` (N,)); ``centre_radius`` > 0 adds the centre-region cells."""
    b, n = len(targets), S * S
    positive = torch.zeros(b, n, dtype=torch.bool)
    classes = torch.zeros(b, n, num_classes)
    params = torch.zeros(b, n, 4)
    boxes_t = torch.zeros(b, n, 4)
    gt_index = torch.full((b, n), -1, dtype=torch.long)
    total = dropped = moved = 0
    for i, t in enumerate(targets):
        boxes = torch.as_tensor(t["boxes"], dtype=torch.float32).reshape(-1, 4).cpu()
        labels = torch.as_tensor(t["labels"], dtype=torch.long).reshape(-1).cpu()
        if boxes.shape[0] != labels.shape[0]:
            raise ValueError(f"image {i}: {boxes.shape[0]} boxes but {labels.shape[0]} labels")
        if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f"image {i}: labels must lie in 0..{num_classes - 1}")
        a = assign_cells(boxes, S, height, width, rule)
        total += boxes.shape[0]
        dropped += a.num_dropped
        moved += a.num_moved
        keep = torch.nonzero(a.cells >= 0).flatten()
        cells = a.cells[keep]
        if centre_radius > 0:
            taken = torch.zeros(n, dtype=torch.bool)
            taken[cells] = True
            more, more_cells = centre_region_cells(boxes, taken, S, height, width, centre_radius)
            keep, cells = torch.cat([keep, more]), torch.cat([cells, more_cells])
        if keep.numel() == 0:
            continue
        positive[i, cells] = True
        classes[i, cells, labels[keep]] = 1.0
        params[i, cells] = encode_boxes(boxes[keep], cells, S, height, width)
        boxes_t[i, cells] = boxes[keep]
        gt_index[i, cells] = keep
    if device is not None:
        positive, classes, params, boxes_t, gt_index = (
            x.to(device) for x in (positive, classes, params, boxes_t, gt_index))
    return GridTargets(positive, classes, params, boxes_t, gt_index, total, dropped, moved)
