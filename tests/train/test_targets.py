"""Assignment of ground-truth instances to grid cells, on hand-made cases."""

import math

import pytest

torch = pytest.importorskip("torch")

from fassst_rt.train.network import decode_boxes  # noqa: E402
from fassst_rt.train.targets import assign_cells, build_targets, centre_region_cells  # noqa: E402

pytestmark = pytest.mark.train


# S = 4 on a 400 x 400 input: cells of 100 px; cell = row * 4 + col.


def box(cx, cy, w, h):
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def cells_of(boxes, rule="nearest_free", S=4, size=400):
    a = assign_cells(torch.tensor(boxes, dtype=torch.float32), S, size, size, rule)
    return a.cells.tolist(), a.num_dropped, a.num_moved


def test_the_cell_holding_the_centre():
    boxes = [box(50, 50, 20, 20), box(150, 50, 300, 80), box(399, 399, 2, 2), box(250, 350, 10, 10)]
    assert cells_of(boxes) == ([0, 1, 15, 14], 0, 0)


def test_centre_on_a_cell_border_goes_to_the_next_cell_and_far_border_to_the_last():
    # centre x = 100 lies in [100, 200): col 1; centre 400 (box past the edge) clamps to col 3
    assert cells_of([box(100, 50, 20, 20), box(400, 400, 40, 40)]) == ([1, 15], 0, 0)


@pytest.mark.parametrize("rule", ["larger", "nearest_free"])
def test_two_centres_in_one_cell_the_larger_keeps_it(rule):
    small = box(140, 160, 20, 20)   # cell 5 (row 1, col 1)
    large = box(160, 140, 60, 60)   # cell 5 too
    cells, dropped, moved = cells_of([small, large], rule)
    assert cells[1] == 5
    if rule == "larger":
        assert cells[0] == -1 and dropped == 1 and moved == 0
    else:
        # small's centre (1.4, 1.6) in cell units: nearest free neighbour centre
        # is cell (row 2, col 1) = 9 at (1.5, 2.5): distance^2 0.1^2 + 0.9^2 = 0.82,
        # vs (row 1, col 0) = 4 at (0.5, 1.5): 0.81 + 0.01 = 0.82, a tie -> lower index 4
        assert cells[0] == 4 and dropped == 0 and moved == 1


def test_nearest_free_neighbour_by_distance():
    a = box(190, 190, 50, 50)   # cell 5, larger
    b = box(185, 130, 10, 10)   # cell 5; centre (1.85, 1.3) in cell units
    # neighbour centres: 6 (2.5, 1.5) d2 0.4625; 1 (1.5, 0.5) 0.7625; 9 (1.5, 2.5) 1.5625
    assert cells_of([a, b]) == ([5, 6], 0, 1)
    c = box(135, 160, 10, 10)   # cell 5; (1.35, 1.6): 4 (0.5, 1.5) d2 0.7325 beats 9 0.8325
    assert cells_of([a, c]) == ([5, 4], 0, 1)


def test_home_cells_have_priority_over_displaced_instances():
    big = box(150, 150, 80, 80)        # cell 5
    mid = box(190, 150, 40, 40)        # cell 5, displaced; nearest neighbour would be 6
    tiny = box(250, 150, 4, 4)         # cell 6 is tiny's home: tiny keeps it
    cells, dropped, moved = cells_of([big, mid, tiny])
    assert cells[0] == 5 and cells[2] == 6
    assert cells[1] not in (5, 6, -1) and moved == 1 and dropped == 0
    # mid's centre (1.9, 1.5): free neighbours 2 (2.5, 0.5) d2 1.36, 10 (2.5, 2.5) 1.36, 1, 9, ...
    # (1.5, 0.5) d2 1.16, (1.5, 2.5) 1.16 -> tie between 1 and 9 -> 1
    assert cells[1] == 1


def test_a_full_neighbourhood_drops_and_counts():
    # a corner cell 0 with its three neighbours 1, 4, 5 taken
    boxes = [box(50, 50, 90, 90), box(150, 50, 90, 90), box(50, 150, 90, 90),
             box(150, 150, 90, 90), box(40, 40, 10, 10)]
    cells, dropped, moved = cells_of(boxes)
    assert cells == [0, 1, 4, 5, -1] and dropped == 1 and moved == 0
    cells, dropped, _ = cells_of(boxes, "larger")
    assert cells == [0, 1, 4, 5, -1] and dropped == 1


def test_equal_areas_the_lower_index_wins():
    assert cells_of([box(120, 120, 30, 30), box(180, 180, 30, 30)], "larger") == ([5, -1], 1, 0)


def test_empty_image():
    assert cells_of([]) == ([], 0, 0)


def test_build_targets():
    targets = [
        {"boxes": torch.tensor([box(140, 160, 20, 20), box(160, 140, 60, 60), box(50, 50, 20, 10)]),
         "labels": torch.tensor([2, 0, 1])},
        {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)},
    ]
    g = build_targets(targets, 4, 400, 400, num_classes=3, rule="larger")
    assert g.positive.shape == (2, 16) and g.num_positive == 2
    assert g.num_instances == 3 and g.num_dropped == 1
    assert g.positive[0].nonzero().flatten().tolist() == [0, 5]
    assert g.gt_index[0, 5] == 1 and g.gt_index[0, 0] == 2 and g.gt_index[0, 1] == -1
    assert g.classes[0, 5].tolist() == [1, 0, 0] and g.classes[0, 0].tolist() == [0, 1, 0]
    assert g.classes[1].sum() == 0 and g.classes[0].sum() == 2
    # the encoded targets decode back to the boxes
    dec = decode_boxes(g.box_params[:1], 4, 400, 400)[0]
    assert torch.allclose(dec[5], targets[0]["boxes"][1], atol=1e-3)
    assert torch.allclose(dec[0], targets[0]["boxes"][2], atol=1e-3)
    # hand values for cell 0: centre (50, 50) = cell centre, w 20 = 0.2 cells, h 0.1
    assert torch.allclose(g.box_params[0, 0], torch.tensor([0.0, 0.0, math.log(0.2),
                                                             math.log(0.1)]), atol=1e-6)
    with pytest.raises(ValueError):
        build_targets([{"boxes": torch.zeros(1, 4), "labels": torch.tensor([3])}], 4, 400, 400, 3)


# --------------------------------------------------------- centre regions


def extra_cells(boxes, radius, taken=(), S=4, size=400):
    mask = torch.zeros(S * S, dtype=torch.bool)
    mask[list(taken)] = True
    inst, cells = centre_region_cells(torch.tensor(boxes, dtype=torch.float32), mask, S, size,
                                      size, radius)
    return sorted(zip(inst.tolist(), cells.tolist()), key=lambda p: p[1])


def test_centre_region_of_a_rod_spans_the_cells_along_it():
    rod = box(150, 200, 40, 290)   # col 1, rows 0..3 hold centres y = 50..350; box y 55..345
    # home cell 9 (centre y 200 lies in row 2); cell centres at y 150 and 250 are inside the box
    # and 0.5 cells from its centre; y = 50 and 350 lie outside the box
    assert extra_cells([rod], 1.5, taken=[9]) == [(0, 5)]
    assert extra_cells([rod], 1.5) == [(0, 5), (0, 9)]
    assert extra_cells([rod], 0.4) == []           # 0.5 cells away is beyond the radius


def test_a_small_round_object_gains_no_cell():
    # 60 px nucleus centred on a cell corner: no cell centre lies inside its box
    assert extra_cells([box(200, 200, 60, 60)], 1.5) == []
    # but one covering a cell centre gets that cell (if free)
    assert extra_cells([box(240, 240, 60, 60)], 1.5) == [(0, 10)]
    assert extra_cells([box(240, 240, 60, 60)], 1.5, taken=[10]) == []
    assert extra_cells([box(240, 240, 60, 60)], 0.0) == []


def test_a_cell_in_two_regions_goes_to_the_nearer_centre_then_the_lower_index():
    # cell 6 has its centre at (250, 150)
    a = box(230, 150, 200, 100)    # centre 0.2 cells from cell 6
    b = box(290, 150, 200, 100)    # 0.4 cells
    assert (0, 6) in extra_cells([a, b], 1.5) and (1, 6) not in extra_cells([a, b], 1.5)
    assert (1, 6) in extra_cells([b, a], 1.5)
    twin = box(250, 190, 100, 100)  # both 0.4 cells from cell 6: the lower index wins
    assert [p for p in extra_cells([twin, twin], 1.5) if p[1] == 6] == [(0, 6)]


def test_build_targets_with_centre_regions():
    rod = box(150, 200, 40, 290)
    targets = [{"boxes": torch.tensor([rod]), "labels": torch.tensor([1])}]
    plain = build_targets(targets, 4, 400, 400, num_classes=2)
    assert plain.num_positive == 1 and plain.num_extra == 0
    g = build_targets(targets, 4, 400, 400, num_classes=2, centre_radius=1.5)
    assert g.positive[0].nonzero().flatten().tolist() == [5, 9] and g.num_extra == 1
    assert g.gt_index[0, 5] == 0 and g.classes[0, 5].tolist() == [0, 1]
    # the extra cell regresses the same box, from its own centre (0.5 cells up)
    dec = decode_boxes(g.box_params[:1], 4, 400, 400)[0]
    assert torch.allclose(dec[5], targets[0]["boxes"][0], atol=1e-3)
    assert abs(float(g.box_params[0, 5, 1]) - 0.5) < 1e-6
    assert torch.equal(g.boxes[0, 5], g.boxes[0, 9])
