#include "core/assignment.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "core/errors.h"

namespace fassst {

std::vector<int> min_cost_assignment(const std::vector<double>& cost, int rows, int cols) {
  if (rows < 0 || cols < rows || cost.size() != static_cast<size_t>(rows) * static_cast<size_t>(cols))
    throw InvalidArgument(message("min_cost_assignment: need 0 <= rows <= cols and rows x cols costs, got ",
                                  rows, " x ", cols, " and ", cost.size(), " costs"));
  // Shortest augmenting paths with row and column potentials u, v: row i is
  // added to the matching by growing a tree of tight edges (reduced cost
  // cost - u - v == 0) from it until a free column is reached, adjusting
  // the potentials by the least slack each time the tree cannot grow.
  // Index 0 is a virtual column that holds the row being added.
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> u(rows + 1, 0.0), v(cols + 1, 0.0), slack(cols + 1);
  std::vector<int> row_of(cols + 1, 0), previous(cols + 1, 0);
  std::vector<char> in_tree(cols + 1);
  for (int i = 1; i <= rows; ++i) {
    row_of[0] = i;
    int col = 0;
    std::fill(slack.begin(), slack.end(), inf);
    std::fill(in_tree.begin(), in_tree.end(), 0);
    do {
      in_tree[col] = 1;
      const int row = row_of[col];
      double delta = inf;
      int next = 0;
      const double* cost_row = cost.data() + static_cast<size_t>(row - 1) * cols;
      for (int j = 1; j <= cols; ++j) {
        if (in_tree[j]) continue;
        const double reduced = cost_row[j - 1] - u[row] - v[j];
        if (reduced < slack[j]) {
          slack[j] = reduced;
          previous[j] = col;
        }
        if (slack[j] < delta) {
          delta = slack[j];
          next = j;
        }
      }
      for (int j = 0; j <= cols; ++j) {
        if (in_tree[j]) {
          u[row_of[j]] += delta;
          v[j] -= delta;
        } else {
          slack[j] -= delta;
        }
      }
      col = next;
    } while (row_of[col] != 0);
    // Flip the path from the free column back to the virtual one.
    while (col != 0) {
      const int back = previous[col];
      row_of[col] = row_of[back];
      col = back;
    }
  }
  std::vector<int> col_of(rows, -1);
  for (int j = 1; j <= cols; ++j)
    if (row_of[j] != 0) col_of[row_of[j] - 1] = j - 1;
  return col_of;
}

namespace {

int find_root(std::vector<int>& parent, int x) {
  while (parent[x] != x) {
    parent[x] = parent[parent[x]];
    x = parent[x];
  }
  return x;
}

}  // namespace

std::vector<std::pair<int, int>> match_by_iou(const std::vector<double>& iou, int rows, int cols,
                                              double min_iou) {
  if (rows < 0 || cols < 0 || iou.size() != static_cast<size_t>(rows) * static_cast<size_t>(cols))
    throw InvalidArgument(message("match_by_iou: need rows x cols IoUs, got ", rows, " x ", cols, " and ",
                                  iou.size(), " values"));
  auto allowed = [&](int r, int c) { return iou[static_cast<size_t>(r) * cols + c] >= min_iou; };
  // Groups of rows and columns linked by allowed pairs (columns are
  // numbered rows + c); each group is an independent assignment.
  std::vector<int> parent(rows + cols);
  std::iota(parent.begin(), parent.end(), 0);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c)
      if (allowed(r, c)) parent[find_root(parent, r)] = find_root(parent, rows + c);
  std::vector<std::vector<int>> group_rows(rows + cols), group_cols(rows + cols);
  for (int r = 0; r < rows; ++r) group_rows[find_root(parent, r)].push_back(r);
  for (int c = 0; c < cols; ++c) group_cols[find_root(parent, rows + c)].push_back(c);

  // A forbidden pair costs as much as leaving its row and column unmatched
  // (plus a hair, so that an allowed pair at exactly min_iou is preferred);
  // the assignment then never gains by using one, and one it uses anyway
  // is dropped below.
  const double unmatched = (1.0 - min_iou) + 1e-9;
  std::vector<std::pair<int, int>> pairs;
  for (int g = 0; g < rows + cols; ++g) {
    const std::vector<int>& gr = group_rows[g];
    const std::vector<int>& gc = group_cols[g];
    if (gr.empty() || gc.empty()) continue;
    const bool transpose = gr.size() > gc.size();
    const std::vector<int>& small = transpose ? gc : gr;
    const std::vector<int>& large = transpose ? gr : gc;
    const int n = static_cast<int>(small.size()), m = static_cast<int>(large.size());
    std::vector<double> cost(static_cast<size_t>(n) * m);
    for (int a = 0; a < n; ++a)
      for (int b = 0; b < m; ++b) {
        const int r = transpose ? large[b] : small[a];
        const int c = transpose ? small[a] : large[b];
        cost[static_cast<size_t>(a) * m + b] =
            allowed(r, c) ? 1.0 - iou[static_cast<size_t>(r) * cols + c] : unmatched;
      }
    const std::vector<int> chosen = min_cost_assignment(cost, n, m);
    for (int a = 0; a < n; ++a) {
      const int r = transpose ? large[chosen[a]] : small[a];
      const int c = transpose ? small[a] : large[chosen[a]];
      if (allowed(r, c)) pairs.emplace_back(r, c);
    }
  }
  std::sort(pairs.begin(), pairs.end());
  return pairs;
}

}  // namespace fassst
