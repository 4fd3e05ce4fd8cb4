// The tracker's motion model (docs/tracking.md): a Kalman filter with a
// constant-velocity state (cx, cy, w, h, and their velocities per frame) that
// observes a box's centre and size. Noise scales with the box's size, so the
// same settings serve small cells and large people.
#pragma once

#include <array>

namespace fassst {

class KalmanBox {
 public:
  // Starts at `box` (x1, y1, x2, y2) at rest, with a velocity prior wide
  // enough (half the box's size per frame) that the second observation
  // sets it. position_noise and velocity_noise are the standard deviations
  // of the per-frame change of position (also the measurement noise) and
  // of velocity, as fractions of the box's width (x, w) or height (y, h).
  KalmanBox(const float* box, double position_noise, double velocity_noise);

  // Advances the state by one frame.
  void predict();
  // Corrects the state with an observed box.
  void update(const float* box);

  // The current estimate as x1, y1, x2, y2 (width and height at least 0).
  void box(float* out) const;
  const std::array<double, 8>& state() const { return x_; }
  const std::array<double, 64>& covariance() const { return p_; }

 private:
  std::array<double, 8> x_;   // cx, cy, w, h, vcx, vcy, vw, vh
  std::array<double, 64> p_;  // row-major 8 x 8
  double position_noise_;
  double velocity_noise_;
};

}  // namespace fassst
