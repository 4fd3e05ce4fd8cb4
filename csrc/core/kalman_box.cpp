#include "core/kalman_box.h"

#include <algorithm>
#include <cmath>

namespace fassst {
namespace {

// Sizes below a pixel would make the noise vanish and the filter rigid.
double noise_scale(double size) { return std::max(size, 1.0); }

// The standard deviation scale of each of the 4 observed quantities: the
// width for cx and w, the height for cy and h.
std::array<double, 4> scales(const std::array<double, 8>& x) {
  const double w = noise_scale(x[2]), h = noise_scale(x[3]);
  return {w, h, w, h};
}

}  // namespace

KalmanBox::KalmanBox(const float* b, double position_noise, double velocity_noise)
    : x_{}, p_{}, position_noise_(position_noise), velocity_noise_(velocity_noise) {
  x_[0] = 0.5 * (static_cast<double>(b[0]) + b[2]);
  x_[1] = 0.5 * (static_cast<double>(b[1]) + b[3]);
  x_[2] = static_cast<double>(b[2]) - b[0];
  x_[3] = static_cast<double>(b[3]) - b[1];
  const std::array<double, 4> s = scales(x_);
  for (int i = 0; i < 4; ++i) {
    const double pos = 2.0 * position_noise_ * s[i], vel = 0.5 * s[i];
    p_[i * 8 + i] = pos * pos;
    p_[(i + 4) * 8 + (i + 4)] = vel * vel;
  }
}

void KalmanBox::predict() {
  // x <- F x with F = [[I, I], [0, I]]
  for (int i = 0; i < 4; ++i) x_[i] += x_[i + 4];
  // P <- F P F^T + Q, written out for this F: with P = [[A, B], [B^T, D]],
  // F P F^T = [[A + B + B^T + D, B + D], [B^T + D, D]].
  std::array<double, 64> q = p_;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) {
      const double a = p_[i * 8 + j], b = p_[i * 8 + j + 4], bt = p_[(i + 4) * 8 + j],
                   d = p_[(i + 4) * 8 + j + 4];
      q[i * 8 + j] = a + b + bt + d;
      q[i * 8 + j + 4] = b + d;
      q[(i + 4) * 8 + j] = bt + d;
    }
  const std::array<double, 4> s = scales(x_);
  for (int i = 0; i < 4; ++i) {
    const double pos = position_noise_ * s[i], vel = velocity_noise_ * s[i];
    q[i * 8 + i] += pos * pos;
    q[(i + 4) * 8 + (i + 4)] += vel * vel;
  }
  p_ = q;
}

void KalmanBox::update(const float* b) {
  const double z[4] = {0.5 * (static_cast<double>(b[0]) + b[2]), 0.5 * (static_cast<double>(b[1]) + b[3]),
                       static_cast<double>(b[2]) - b[0], static_cast<double>(b[3]) - b[1]};
  // Innovation covariance S = H P H^T + R (the top-left 4 x 4 of P plus the
  // measurement noise), factored as L L^T.
  const std::array<double, 4> s = scales(x_);
  double S[16];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) S[i * 4 + j] = p_[i * 8 + j];
  for (int i = 0; i < 4; ++i) S[i * 4 + i] += (position_noise_ * s[i]) * (position_noise_ * s[i]);
  double L[16] = {0};
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j <= i; ++j) {
      double sum = S[i * 4 + j];
      for (int k = 0; k < j; ++k) sum -= L[i * 4 + k] * L[j * 4 + k];
      L[i * 4 + j] = i == j ? std::sqrt(std::max(sum, 1e-12)) : sum / L[j * 4 + j];
    }
  // Gain transposed, K^T = S^-1 (H P): 4 x 8, solved column by column.
  double kt[32];
  for (int c = 0; c < 8; ++c) {
    double y[4];
    for (int i = 0; i < 4; ++i) {
      double sum = p_[i * 8 + c];
      for (int k = 0; k < i; ++k) sum -= L[i * 4 + k] * y[k];
      y[i] = sum / L[i * 4 + i];
    }
    for (int i = 3; i >= 0; --i) {
      double sum = y[i];
      for (int k = i + 1; k < 4; ++k) sum -= L[k * 4 + i] * kt[k * 8 + c];
      kt[i * 8 + c] = sum / L[i * 4 + i];
    }
  }
  double innovation[4];
  for (int i = 0; i < 4; ++i) innovation[i] = z[i] - x_[i];
  for (int r = 0; r < 8; ++r)
    for (int i = 0; i < 4; ++i) x_[r] += kt[i * 8 + r] * innovation[i];
  // P <- P - K (H P), then symmetrised against rounding drift.
  std::array<double, 64> next = p_;
  for (int r = 0; r < 8; ++r)
    for (int c = 0; c < 8; ++c) {
      double sum = 0.0;
      for (int i = 0; i < 4; ++i) sum += kt[i * 8 + r] * p_[i * 8 + c];
      next[r * 8 + c] -= sum;
    }
  for (int r = 0; r < 8; ++r)
    for (int c = 0; c < r; ++c) next[r * 8 + c] = next[c * 8 + r] = 0.5 * (next[r * 8 + c] + next[c * 8 + r]);
  p_ = next;
}

void KalmanBox::box(float* out) const {
  const double w = std::max(x_[2], 0.0), h = std::max(x_[3], 0.0);
  out[0] = static_cast<float>(x_[0] - 0.5 * w);
  out[1] = static_cast<float>(x_[1] - 0.5 * h);
  out[2] = static_cast<float>(x_[0] + 0.5 * w);
  out[3] = static_cast<float>(x_[1] + 0.5 * h);
}

}  // namespace fassst
