// A minimal parallel loop over [0, n) with static chunks on std::threads.
#pragma once

#include <algorithm>
#include <cstdint>
#include <exception>
#include <thread>
#include <vector>

namespace fassst {

// Number of worker threads used when the caller passes num_threads <= 0.
inline int default_num_threads() {
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

// Calls body(begin, end) on disjoint chunks covering [0, n). Runs inline when
// one thread suffices; the first exception thrown by a chunk is rethrown.
template <typename Body>
void parallel_for(int64_t n, int num_threads, int64_t min_chunk, const Body& body) {
  if (n <= 0) return;
  int threads = num_threads > 0 ? num_threads : default_num_threads();
  const int64_t max_useful = std::max<int64_t>(1, n / std::max<int64_t>(1, min_chunk));
  threads = static_cast<int>(std::min<int64_t>(threads, max_useful));
  if (threads <= 1) {
    body(int64_t{0}, n);
    return;
  }
  std::vector<std::thread> workers;
  std::vector<std::exception_ptr> errors(threads);
  workers.reserve(threads - 1);
  const int64_t chunk = (n + threads - 1) / threads;
  auto run = [&](int t) {
    const int64_t begin = t * chunk;
    const int64_t end = std::min(n, begin + chunk);
    try {
      if (begin < end) body(begin, end);
    } catch (...) {
      errors[t] = std::current_exception();
    }
  };
  for (int t = 1; t < threads; ++t) workers.emplace_back(run, t);
  run(0);
  for (auto& w : workers) w.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace fassst
