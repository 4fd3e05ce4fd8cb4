// fassst::Stream: the Segmenter's steps on their own threads, bounded queues
// between them. Each step is the Impl's own (core/segmenter_impl.h), so a
// streamed frame gives exactly what run() gives.
#include "fassst/stream.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <thread>

#include "core/segmenter_impl.h"

namespace fassst {
namespace {

constexpr int kMaxQueue = 64;

// A bounded queue between two threads. push() blocks while it is full, or
// (keep_newest) drops its oldest item to make room; pop() blocks while it is
// empty. close() wakes everyone: pushes fail, pops drain what is left.
template <typename T>
class Channel {
 public:
  Channel(size_t capacity, bool keep_newest) : capacity_(capacity), keep_newest_(keep_newest) {}

  bool push(T&& item, int64_t* dropped = nullptr) {
    std::unique_lock<std::mutex> lock(m_);
    if (keep_newest_) {
      while (!closed_ && q_.size() >= capacity_) {
        q_.pop_front();
        if (dropped) ++*dropped;
      }
    } else {
      not_full_.wait(lock, [&] { return closed_ || q_.size() < capacity_; });
    }
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

  bool take(T* item) {  // with m_ held
    if (q_.empty()) return false;
    *item = std::move(q_.front());
    q_.pop_front();
    not_full_.notify_one();
    return true;
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
  std::mutex m_;
  std::condition_variable not_full_, not_empty_;
  std::deque<T> q_;
  size_t capacity_;
  bool keep_newest_;
  bool closed_ = false;
};

double system_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

FrameSource::~FrameSource() = default;

// A frame on its way through the steps.
struct StreamJob {
  SourceFrame source;
  int64_t index = 0;
  double timestamp = 0.0;
  pipeline::Clock::time_point arrival;
  Frame3 frame;
  std::vector<Tile> tiles;
  std::vector<pipeline::Crop> crops;
  std::vector<std::pair<size_t, size_t>> chunks;
  std::vector<NetworkInput> inputs;    // per chunk, after preprocess
  std::vector<FrameOutputs> outputs;   // per chunk, after the frame graph (overlapped backends)
  pipeline::Timings timings;
};

struct Stream::Impl {
  Segmenter::Impl& seg;
  std::unique_ptr<FrameSource> source;
  std::string source_name;
  StreamMode mode;
  bool drops;     // latency mode on a live source: the newest frame wins
  bool overlap;   // the frame graph on its own thread
  Channel<std::unique_ptr<StreamJob>> captured, planned, inferred;
  Channel<StreamResult> results;
  std::unique_ptr<Tracker> tracker;  // used by the finishing thread only, frames in order
  std::vector<std::thread> threads;
  std::mutex join_mutex;
  std::mutex error_mutex;
  std::exception_ptr error;
  bool error_reported = false;
  int64_t dropped_total = 0;    // written by the capture thread under `captured`'s pushes
  std::mutex dropped_mutex;
  int64_t dropped_reported = 0;
  bool stopped = false;

  Impl(Segmenter::Impl& s, std::unique_ptr<FrameSource> src, const StreamOptions& o, size_t depth)
      : seg(s),
        source(std::move(src)),
        source_name(source->name()),
        mode(o.mode),
        drops(o.mode == StreamMode::kLatency && source->live()),
        overlap(s.backend->overlaps_graphs()),
        captured(drops ? 1 : depth, drops),
        planned(depth, false),
        inferred(depth, false),
        results(depth, false),
        tracker(o.track ? new Tracker(o.tracker) : nullptr) {}

  void fail(std::exception_ptr e) {
    {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = e;
    }
    captured.close_and_clear();
    planned.close_and_clear();
    inferred.close_and_clear();
    results.close();
  }

  template <typename F>
  void guarded(F&& body) {
    try {
      body();
    } catch (...) {
      fail(std::current_exception());
    }
  }

  // The source's own error ends the stream after the frames read before it
  // (they are delivered, then the error); an error of a later step drops
  // what is in flight.
  void capture() {
    try {
      for (int64_t index = 0;; ++index) {
        auto job = std::unique_ptr<StreamJob>(new StreamJob);
        if (!source->read(&job->source)) break;
        job->arrival = pipeline::Clock::now();
        job->index = index;
        job->timestamp = job->source.timestamp >= 0.0 ? job->source.timestamp : system_seconds();
        int64_t dropped = 0;
        const bool ok = captured.push(std::move(job), &dropped);
        if (dropped) {
          std::lock_guard<std::mutex> lock(dropped_mutex);
          dropped_total += dropped;
        }
        if (!ok) break;
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
    }
    captured.close();
  }

  void preprocess() {
    guarded([&] {
      std::unique_ptr<StreamJob> job;
      while (captured.pop(&job)) {
        const auto t0 = pipeline::Clock::now();
        job->frame = to_three_channels(job->source.image, seg.meta.uint16, source_name + " frame");
        job->crops = seg.crops_of(job->frame, seg.tile_size, seg.tile_overlap, &job->tiles);
        job->chunks = seg.chunks_of(job->crops.size());
        for (const auto& c : job->chunks)
          job->inputs.push_back(seg.preprocess(
              std::vector<pipeline::Crop>(job->crops.begin() + c.first, job->crops.begin() + c.second)));
        job->timings["preprocess"] += pipeline::ms_since(t0, pipeline::Clock::now());
        if (!planned.push(std::move(job))) return;
      }
    });
    planned.close();
  }

  void infer() {
    guarded([&] {
      std::unique_ptr<StreamJob> job;
      while (planned.pop(&job)) {
        const auto t0 = pipeline::Clock::now();
        for (const NetworkInput& in : job->inputs) job->outputs.push_back(seg.infer(in));
        job->timings["frame"] += pipeline::ms_since(t0, pipeline::Clock::now());
        if (!inferred.push(std::move(job))) return;
      }
    });
    inferred.close();
  }

  // select + RFF + tail + merge; the frame graph too when it cannot overlap.
  void finish() {
    guarded([&] {
      Channel<std::unique_ptr<StreamJob>>& in = overlap ? inferred : planned;
      std::unique_ptr<StreamJob> job;
      while (in.pop(&job)) {
        std::vector<Instances> per_crop;
        for (size_t c = 0; c < job->chunks.size(); ++c) {
          FrameOutputs own;
          if (!overlap) {
            const auto t0 = pipeline::Clock::now();
            own = seg.infer(job->inputs[c]);
            job->timings["frame"] += pipeline::ms_since(t0, pipeline::Clock::now());
          }
          const FrameOutputs& outputs = overlap ? job->outputs[c] : own;
          std::vector<Instances> part;
          {
            // the selection settings may be changed between frames, never during one
            std::lock_guard<std::mutex> lock(seg.mutex);
            part = seg.finish(job->crops.data() + job->chunks[c].first, job->inputs[c], outputs, false,
                              &job->timings);
          }
          for (Instances& inst : part) per_crop.push_back(std::move(inst));
        }
        StreamResult r;
        r.source = source_name;
        r.frame_index = job->index;
        r.timestamp = job->timestamp;
        r.instances = seg.assemble(job->frame, job->tiles, std::move(per_crop), job->timings);
        if (tracker) r.instances.track_ids = tracker->update(r.instances);
        r.latency_ms = pipeline::ms_since(job->arrival, pipeline::Clock::now());
        {
          std::lock_guard<std::mutex> lock(dropped_mutex);
          r.dropped = dropped_total - dropped_reported;
          dropped_reported = dropped_total;
        }
        r.frame = std::move(job->source);
        job.reset();  // the frame's outputs go before the result waits
        if (!results.push(std::move(r))) return;
      }
    });
    results.close();
  }

  // next() and stop() may both get here, from different threads: the first
  // joins, the other waits for it.
  void join() {
    std::lock_guard<std::mutex> joining(join_mutex);
    for (std::thread& t : threads)
      if (t.joinable()) t.join();
    threads.clear();
    std::lock_guard<std::mutex> lock(seg.mutex);
    seg.streaming = false;
  }
};

Stream::Stream(Segmenter& segmenter, std::unique_ptr<FrameSource> source, const StreamOptions& options) {
  if (!source) throw InvalidArgument("Stream: source must not be null");
  if (options.queue_size < 1 || options.queue_size > kMaxQueue)
    throw InvalidArgument(message("queue_size must be in [1, ", kMaxQueue, "], got ", options.queue_size));
  if (options.mode != StreamMode::kThroughput && options.mode != StreamMode::kLatency)
    throw InvalidArgument(message("mode must be a StreamMode, got ", static_cast<int>(options.mode)));
  Segmenter::Impl& seg = segmenter.checked();
  {
    std::lock_guard<std::mutex> lock(seg.mutex);
    seg.require_idle();
    seg.streaming = true;
  }
  // Latency mode keeps one frame per queue: no frame waits behind another.
  const size_t depth = options.mode == StreamMode::kLatency ? 1 : static_cast<size_t>(options.queue_size);
  try {
    impl_.reset(new Impl(seg, std::move(source), options, depth));
    Impl* s = impl_.get();
    s->threads.emplace_back([s] { s->capture(); });
    s->threads.emplace_back([s] { s->preprocess(); });
    if (s->overlap) s->threads.emplace_back([s] { s->infer(); });
    s->threads.emplace_back([s] { s->finish(); });
  } catch (...) {
    if (impl_) {
      impl_->fail(std::current_exception());
      impl_->join();
    } else {
      std::lock_guard<std::mutex> lock(seg.mutex);
      seg.streaming = false;
    }
    throw;
  }
}

Stream::~Stream() { stop(); }

bool Stream::next(StreamResult* result) {
  bool timed_out = false;
  return next_for(result, std::chrono::milliseconds::max(), &timed_out);
}

bool Stream::next_for(StreamResult* result, std::chrono::milliseconds timeout, bool* timed_out) {
  if (result == nullptr || timed_out == nullptr)
    throw InvalidArgument("Stream::next_for: result and timed_out must not be null");
  const bool got = timeout == std::chrono::milliseconds::max() ? impl_->results.pop(result)
                                                                : impl_->results.pop_for(result, timeout, timed_out);
  if (timeout == std::chrono::milliseconds::max()) *timed_out = false;
  if (got) return true;
  if (*timed_out) return false;
  impl_->join();  // the steps have ended: their threads are finishing
  std::lock_guard<std::mutex> lock(impl_->error_mutex);
  if (impl_->error && !impl_->error_reported) {
    impl_->error_reported = true;
    std::rethrow_exception(impl_->error);
  }
  return false;
}

void Stream::stop() {
  if (!impl_) return;
  impl_->captured.close_and_clear();
  impl_->planned.close_and_clear();
  impl_->inferred.close_and_clear();
  impl_->results.close_and_clear();
  impl_->join();
}

}  // namespace fassst
