// The queues of fassst::Stream (csrc/core/stream.cpp): a bounded Channel
// between two steps, and SourceQueues, one bounded queue per source from
// which a step gathers one frame of each source. Not a public header.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <utility>
#include <vector>

namespace fassst {
namespace stream_queues {

// A bounded queue between two threads. push() blocks while it is full;
// pop() blocks while it is empty. close() wakes everyone: pushes fail, pops
// drain what is left.
template <typename T>
class Channel {
 public:
  explicit Channel(size_t capacity) : capacity_(capacity) {}

  bool push(T&& item) {
    std::unique_lock<std::mutex> lock(m_);
    not_full_.wait(lock, [&] { return closed_ || q_.size() < capacity_; });
    if (closed_) return false;
    q_.push_back(std::move(item));
    not_empty_.notify_one();
    return true;
  }

  bool pop(T* item) {
    std::unique_lock<std::mutex> lock(m_);
    not_empty_.wait(lock, [&] { return closed_ || !q_.empty(); });
    return take(item);
  }

  // pop() waiting at most `timeout`; *timed_out says whether it gave up.
  bool pop_for(T* item, std::chrono::milliseconds timeout, bool* timed_out) {
    std::unique_lock<std::mutex> lock(m_);
    *timed_out = !not_empty_.wait_for(lock, timeout, [&] { return closed_ || !q_.empty(); });
    return !*timed_out && take(item);
  }

  // Waits until the queue is empty (its reader took everything); false
  // once it is closed.
  bool wait_empty() {
    std::unique_lock<std::mutex> lock(m_);
    not_full_.wait(lock, [&] { return closed_ || q_.empty(); });
    return !closed_;
  }

  void close() {
    std::lock_guard<std::mutex> lock(m_);
    closed_ = true;
    not_full_.notify_all();
    not_empty_.notify_all();
  }

  // Drops what is queued (stop(): frames in flight are abandoned).
  void close_and_clear() {
    std::lock_guard<std::mutex> lock(m_);
    closed_ = true;
    q_.clear();
    not_full_.notify_all();
    not_empty_.notify_all();
  }

 private:
  bool take(T* item) {  // with m_ held
    if (q_.empty()) return false;
    *item = std::move(q_.front());
    q_.pop_front();
    not_full_.notify_all();  // a writer waiting for room, and one waiting for the queue to empty
    return true;
  }

  std::mutex m_;
  std::condition_variable not_full_, not_empty_;
  std::deque<T> q_;
  size_t capacity_;
  bool closed_ = false;
};

// One bounded queue per source, each filled by its source's capture thread
// and emptied by one gathering thread. A queue that keeps the newest drops
// its oldest item to make room (a live source in latency mode); the others
// make their source wait. A source's queue ends when the source does; the
// sources stop reading when one fails; the whole set closes on stop() or an
// error of a later step.
template <typename T>
class SourceQueues {
 public:
  struct Queue {
    size_t capacity = 1;
    bool keep_newest = false;
  };

  explicit SourceQueues(const std::vector<Queue>& queues) : lanes_(queues.size()) {
    for (size_t i = 0; i < queues.size(); ++i) lanes_[i].shape = queues[i];
  }

  size_t size() const { return lanes_.size(); }

  // False once the set is closed (the item is not queued). `dropped` counts
  // the items a keep-newest queue dropped to make room.
  bool push(size_t source, T&& item, int64_t* dropped) {
    std::unique_lock<std::mutex> lock(m_);
    Lane& lane = lanes_[source];
    if (lane.shape.keep_newest) {
      while (!closed_ && lane.q.size() >= lane.shape.capacity) {
        lane.q.pop_front();
        ++*dropped;
      }
    } else {
      not_full_.wait(lock, [&] { return closed_ || lane.q.size() < lane.shape.capacity; });
    }
    if (closed_) return false;
    lane.q.push_back(std::move(item));
    ready_.notify_all();
    return true;
  }

  // The source has given its last item; what it queued is still gathered.
  void end(size_t source) {
    std::lock_guard<std::mutex> lock(m_);
    lanes_[source].ended = true;
    ready_.notify_all();
  }

  // One step's items, at most one per source, in source order, as
  // (source, item). wait_for_all: waits until every source that has not
  // ended has an item (every frame of every source, sources that end drop
  // out of the steps); otherwise waits until some source has one and takes
  // what is there (no source waits for another). False when every source
  // has ended and nothing is left, or the set is closed and drained.
  bool gather(bool wait_for_all, std::vector<std::pair<size_t, T>>* out) {
    out->clear();
    std::unique_lock<std::mutex> lock(m_);
    ready_.wait(lock, [&] {
      bool any = false, all = true, done = true;
      for (const Lane& lane : lanes_) {
        const bool has = !lane.q.empty();
        any = any || has;
        all = all && (has || lane.ended || closed_);
        done = done && !has && (lane.ended || closed_);
      }
      return done || (wait_for_all ? all && any : any);
    });
    for (size_t s = 0; s < lanes_.size(); ++s) {
      Lane& lane = lanes_[s];
      if (lane.q.empty()) continue;
      out->emplace_back(s, std::move(lane.q.front()));
      lane.q.pop_front();
    }
    not_full_.notify_all();
    return !out->empty();
  }

  // Sources are to stop reading (one failed): what they read is still
  // queued and gathered, each ends after its read in progress.
  void stop_reading() {
    std::lock_guard<std::mutex> lock(m_);
    stop_reading_ = true;
  }

  bool stopping() {
    std::lock_guard<std::mutex> lock(m_);
    return stop_reading_ || closed_;
  }

  // Every source ends now: pushes fail, what is queued is dropped.
  void close_and_clear() {
    std::lock_guard<std::mutex> lock(m_);
    closed_ = true;
    for (Lane& lane : lanes_) lane.q.clear();
    not_full_.notify_all();
    ready_.notify_all();
  }

 private:
  struct Lane {
    Queue shape;
    std::deque<T> q;
    bool ended = false;
  };

  std::mutex m_;
  std::condition_variable not_full_, ready_;
  std::vector<Lane> lanes_;
  bool closed_ = false;
  bool stop_reading_ = false;
};

// One step at a time: acquire() waits until the step before has released
// (false once closed: the stream is ending).
class StepGate {
 public:
  bool acquire() {
    std::unique_lock<std::mutex> lock(m_);
    free_.wait(lock, [&] { return closed_ || !busy_; });
    busy_ = !closed_;
    return !closed_;
  }

  void release() {
    std::lock_guard<std::mutex> lock(m_);
    busy_ = false;
    free_.notify_all();
  }

  void close() {
    std::lock_guard<std::mutex> lock(m_);
    closed_ = true;
    free_.notify_all();
  }

 private:
  std::mutex m_;
  std::condition_variable free_;
  bool busy_ = false;
  bool closed_ = false;
};

}  // namespace stream_queues
}  // namespace fassst
