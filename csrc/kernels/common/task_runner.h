// How the CPU kernels spread their tasks over the thread pool: a per-call
// setup overlapped with the workers' wake-up, tasks drawn one at a time from a
// shared counter, per-thread scratch kept between calls.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>

#include "parallel/thread_pool.h"

namespace fassst {

// Runs prepare() and then task(t, scratch) for every t in [0, num_tasks) on
// up to num_threads threads. The calling thread runs prepare() after the
// workers have been woken, and they wait for it (spinning: it takes tens of
// microseconds), so a worker's wake-up, which takes about as long on an idle
// core, overlaps the per-call setup instead of following it. Tasks are
// handed out one at a time from a shared counter rather than split evenly up
// front, so a thread slowed down (a core shared with another process, larger
// ROIs) just takes fewer. Each thread gets its scratch once per call
// (make_scratch returns a reference to it). A thread is added only per
// kOutputPerThread output values: below that, waking a worker costs more
// than it saves (on 2 cores, the shipped model's K = 8 call, 65 K values, is
// faster on one thread and its K = 36 call faster on two). To re-measure,
// build with kOutputPerThread = 1 and compare
// `python benchmarks/kernels.py --threads 1` with `--threads 2` (the
// shipped model's rows).
constexpr int64_t kOutputPerThread = 128 * 1024;

template <typename Prepare, typename MakeScratch, typename Task>
void run_tasks(int64_t num_tasks, int64_t output_values, int num_threads, const Prepare& prepare,
               const MakeScratch& make_scratch, const Task& task) {
  const int64_t useful = std::max<int64_t>(1, output_values / kOutputPerThread);
  const int threads = static_cast<int>(std::max<int64_t>(
      1, std::min({static_cast<int64_t>(num_threads > 0 ? num_threads : default_num_threads()),
                   num_tasks, useful})));
  std::atomic<int64_t> next{0};
  enum : int { kPreparing, kPrepared, kFailed };
  std::atomic<int> stage{kPreparing};
  // One index per thread (min_chunk 1); index 0 is the calling thread's.
  parallel_for(threads, threads, 1, [&](int64_t first, int64_t) {
    if (first == 0) {
      try {
        prepare();
      } catch (...) {
        stage.store(kFailed, std::memory_order_release);  // parallel_for rethrows it
        throw;
      }
      stage.store(kPrepared, std::memory_order_release);
    } else {
      int now;
      for (int spins = 0; (now = stage.load(std::memory_order_acquire)) == kPreparing; ++spins) {
        // Spin briefly, then yield: a worker woken onto the caller's core
        // (the other one busy) must not hold that core while the caller,
        // preempted by it, still has prepare() to finish.
        if (spins < 256)
          cpu_relax();
        else
          std::this_thread::yield();
      }
      if (now == kFailed) return;
    }
    auto& scratch = make_scratch();
    for (int64_t t = next.fetch_add(1, std::memory_order_relaxed); t < num_tasks;
         t = next.fetch_add(1, std::memory_order_relaxed))
      task(t, scratch);
  });
}

// The scratch of the calling thread, kept between calls (the pool's workers
// live on): allocating and zeroing it anew costs several microseconds a call.
template <typename Scratch>
Scratch& thread_scratch() {
  thread_local Scratch s;
  return s;
}

}  // namespace fassst
