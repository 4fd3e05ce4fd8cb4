// A minimal parallel loop over [0, n) with static chunks, run on a small
// persistent pool of worker threads. It sits below everything else in csrc/
// (it includes only the standard library and system headers), so the kernels
// and the core may both use it.
//
// Starting and joining std::threads costs tens of microseconds per call, a
// large share of a small roi_fuse (`python benchmarks/kernels.py --rois 8`
// times such calls). The pool keeps its workers waiting on a condition variable
// between calls. It is used by one caller at a time: a second caller
// meanwhile (another thread, or a parallel_for nested inside a worker) starts
// threads of its own. Chunks no worker has started by the time the caller
// finishes its own are run by the caller. After fork() the child makes a new
// pool (the parent's workers do not exist there).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#define FASSST_HAVE_GETPID 1
#endif

// Keeping workers off the caller's CPU needs Linux's affinity calls.
#if defined(__linux__) && defined(__GLIBC__)
#include <pthread.h>
#include <sched.h>
#define FASSST_KEEP_WORKERS_OFF_CALLER 1
#else
#define FASSST_KEEP_WORKERS_OFF_CALLER 0
#endif

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <immintrin.h>
#endif

namespace fassst {

// A pause inside a spin-wait loop: lets the other hardware thread of the
// core run and saves power, without giving up the time slice.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
  __asm__ __volatile__("yield");
#endif
}

// Spins (pausing) until `counter` is 0 or about 50 microseconds have passed.
inline void spin_until_zero(const std::atomic<int>& counter) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::microseconds(50);
  for (int spins = 1; counter.load(std::memory_order_acquire) != 0; ++spins) {
    cpu_relax();
    if (spins % 64 == 0 && std::chrono::steady_clock::now() > give_up) return;
  }
}

// The most threads a caller may ask for: above the hardware threads of any
// machine this runs on, and low enough that a mistaken count cannot exhaust
// the process (core/thread_count.h refuses larger ones with a message).
constexpr int kMaxNumThreads = 1024;

// Number of worker threads used when the caller passes num_threads <= 0.
// Read once per process: with glibc, std::thread::hardware_concurrency()
// opens and reads /sys/devices/system/cpu/online on every call (`strace -e
// trace=openat python -c "import os; os.cpu_count(); os.cpu_count()"` shows
// the same glibc call doing so), system calls that are a sizeable share of a
// small cold call (`python benchmarks/kernels.py --call-overhead`, K = 1).
inline int default_num_threads() {
  static const int count = [] {
    const unsigned hw = std::thread::hardware_concurrency();
    return hw == 0 ? 1 : static_cast<int>(hw);
  }();
  return count;
}

namespace detail {

class ThreadPool {
 public:
  // The process's pool (a new one in a forked child). Never destroyed: a
  // static destructor joining threads at exit can deadlock inside an
  // interpreter's shutdown, and the OS ends the workers anyway.
  static ThreadPool& instance() {
#if FASSST_HAVE_GETPID
    static std::mutex m;
    static ThreadPool* pool = nullptr;
    static pid_t owner = 0;
    std::lock_guard<std::mutex> lock(m);
    if (pool == nullptr || owner != getpid()) {
      pool = new ThreadPool();  // a forked child's old pool is left alone
      owner = getpid();
    }
    return *pool;
#else
    static ThreadPool* pool = new ThreadPool();
    return *pool;
#endif
  }

  // Runs fn(t) once for every t in [0, count): t = 0 on the calling thread,
  // the others on workers, except that when the caller is done with its own
  // part it takes over every part no worker has started yet (a worker that
  // was not scheduled in time, on a loaded machine, then costs nothing).
  // Returns false, doing nothing, when the pool is in use.
  bool try_run(int count, const std::function<void(int)>& fn) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    std::unique_lock<std::mutex> lock(m_);
    while (static_cast<int>(workers_.size()) < count - 1) {
      const int index = static_cast<int>(workers_.size()) + 1;
      workers_.emplace_back([this, index] { work(index); });
      workers_.back().detach();
    }
    keep_workers_off_caller();
    fn_ = &fn;
    count_ = count;
    unfinished_.store(count, std::memory_order_relaxed);
    state_.assign(count, kWaiting);
    state_[0] = kRunning;
    ++generation_;
    lock.unlock();
    wake_.notify_all();
    fn(0);
    lock.lock();
    state_[0] = kDone;
    unfinished_.fetch_sub(1, std::memory_order_release);
    for (int t = 1; t < count; ++t) {
      if (state_[t] != kWaiting) continue;
      state_[t] = kRunning;
      lock.unlock();
      fn(t);
      lock.lock();
      state_[t] = kDone;
      unfinished_.fetch_sub(1, std::memory_order_release);
    }
    // Parts still running on workers end within about one task of ours.
    // Spin for them a little before sleeping: being woken from a sleep takes
    // tens of microseconds on an idle virtual CPU, a tenth of a small call.
    lock.unlock();
    spin_until_zero(unfinished_);
    lock.lock();
    if (unfinished_.load(std::memory_order_acquire) != 0) release_workers();
    done_.wait(lock, [this] {
      return std::all_of(state_.begin(), state_.end(), [](int s) { return s == kDone; });
    });
    fn_ = nullptr;
    return true;
  }

 private:
  enum : int { kWaiting, kRunning, kDone };

  ThreadPool() {
#if FASSST_KEEP_WORKERS_OFF_CALLER
    // The CPUs the process may use when the pool starts (none on error).
    CPU_ZERO(&cpus_);
    if (sched_getaffinity(0, sizeof cpus_, &cpus_) != 0) CPU_ZERO(&cpus_);
#endif
  }

  // Keeps the workers on CPUs other than the caller's: a worker that slept
  // for a while is otherwise often woken onto the waking CPU, where it
  // competes with the caller while the other CPU idles (on a 2-core machine
  // that makes calls after a pause markedly slower; `python
  // benchmarks/kernels.py` times calls interleaved with other work). The
  // restriction stays between calls and is set again only when the caller
  // has moved to another CPU or has released it (release_workers): each
  // pthread_setaffinity_np is a system call of several microseconds on an
  // idle virtual CPU, and a worker dropping the restriction itself would
  // delay its own start by as much. Errors (restricted CPU sets) change
  // nothing.
  void keep_workers_off_caller() {
#if FASSST_KEEP_WORKERS_OFF_CALLER
    const int cpu = sched_getcpu();
    if (cpu < 0 || handles_.empty()) return;
    if (cpu == pinned_off_ && handles_.size() == pinned_workers_) return;
    cpu_set_t others = cpus_;
    CPU_CLR(cpu, &others);
    if (CPU_COUNT(&others) == 0) return;
    for (pthread_t h : handles_) pthread_setaffinity_np(h, sizeof others, &others);
    pinned_off_ = cpu;
    pinned_workers_ = handles_.size();
#endif
  }

  // Lets the workers run on any CPU again. Called when the caller, done with
  // its share, still has to wait for a worker: that worker may have been
  // preempted on a busy CPU, and can now move to the caller's, which is
  // about to idle.
  void release_workers() {
#if FASSST_KEEP_WORKERS_OFF_CALLER
    if (pinned_off_ < 0 || CPU_COUNT(&cpus_) == 0) return;
    for (pthread_t h : handles_) pthread_setaffinity_np(h, sizeof cpus_, &cpus_);
    pinned_off_ = -1;
#endif
  }

  void work(int index) {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(m_);
#if FASSST_KEEP_WORKERS_OFF_CALLER
    handles_.push_back(pthread_self());
#endif
    for (;;) {
      wake_.wait(lock, [&] { return generation_ != seen; });
      seen = generation_;
      if (index >= count_ || state_[index] != kWaiting) continue;
      state_[index] = kRunning;
      const std::function<void(int)>* fn = fn_;
      lock.unlock();
      (*fn)(index);  // callers pass bodies that catch their own exceptions
      lock.lock();
      state_[index] = kDone;
      unfinished_.fetch_sub(1, std::memory_order_release);
      done_.notify_one();
    }
  }

  std::mutex busy_;  // held by the one caller using the pool
  std::mutex m_;     // guards everything below
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;  // detached; kept for the count
  const std::function<void(int)>* fn_ = nullptr;
  int count_ = 0;
  std::vector<int> state_;  // per part: kWaiting, kRunning, kDone
  std::atomic<int> unfinished_{0};  // parts not kDone: read without the lock
#if FASSST_KEEP_WORKERS_OFF_CALLER
  std::vector<pthread_t> handles_;  // of the workers that have started
  cpu_set_t cpus_;  // the CPUs the process may use, read once (constructor)
  int pinned_off_ = -1;  // the CPU the workers are kept off, -1 for none
  size_t pinned_workers_ = 0;  // how many of handles_ were pinned
#endif
  uint64_t generation_ = 0;
};

}  // namespace detail

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
  std::vector<std::exception_ptr> errors(threads);
  const int64_t chunk = (n + threads - 1) / threads;
  const std::function<void(int)> run = [&](int t) {
    const int64_t begin = t * chunk;
    const int64_t end = std::min(n, begin + chunk);
    try {
      if (begin < end) body(begin, end);
    } catch (...) {
      errors[t] = std::current_exception();
    }
  };
  if (!detail::ThreadPool::instance().try_run(threads, run)) {
    // The pool is busy (a concurrent or nested call): threads of our own.
    std::vector<std::thread> workers;
    workers.reserve(threads - 1);
    for (int t = 1; t < threads; ++t) workers.emplace_back(run, t);
    run(0);
    for (auto& w : workers) w.join();
  }
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace fassst
