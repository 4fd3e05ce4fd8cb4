// Optimal one-to-one assignment for the tracker (docs/tracking.md): the
// Hungarian method on a cost matrix, and matching by IoU with a floor.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace fassst {

// Minimum-cost assignment of every row of a rows x cols row-major matrix
// (rows <= cols) to a distinct column, by the Hungarian method in
// O(rows^2 cols). Returns the column of each row. Costs must be finite.
std::vector<int> min_cost_assignment(const std::vector<double>& cost, int rows, int cols);

// A one-to-one matching of rows to columns among the allowed pairs (iou >=
// min_iou; iou is rows x cols row-major) that minimises the sum of 1 - iou
// over matched pairs plus (1 - min_iou) / 2 for each row and column left
// unmatched: every allowed pair is worth matching on its own, and one
// strong pair is not broken up to make two weak ones. Solved per connected
// group of allowed pairs, so scenes with hundreds of objects stay fast.
// Pairs (row, column) come sorted by row.
std::vector<std::pair<int, int>> match_by_iou(const std::vector<double>& iou, int rows, int cols,
                                              double min_iou);

}  // namespace fassst
