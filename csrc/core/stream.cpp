// fassst::Stream: the Segmenter's steps on their own threads, bounded queues
// between them. Each step is the Impl's own (core/segmenter_impl.h), so a
// streamed frame gives exactly what run() gives.
#include "fassst/stream.h"

#include <chrono>
#include <exception>
#include <iterator>
#include <thread>

#include "core/segmenter_impl.h"
#include "core/stream_queues.h"

namespace fassst {
namespace {

using stream_queues::Channel;
using stream_queues::SourceQueues;
using stream_queues::StepGate;

constexpr int kMaxQueue = 64;

double system_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// One source's frame, from its capture to its result.
struct StreamFrame {
  size_t source = 0;
  SourceFrame source_frame;
  int64_t index = 0;
  double timestamp = 0.0;
  pipeline::Clock::time_point arrival;
  Frame3 frame;
  std::vector<Tile> tiles;
  size_t first_crop = 0, crop_count = 0;  // its crops in the step's
};

// One step on its way through the threads: a frame of each source that had
// one, their crops in one list, run in the Segmenter's chunks.
struct StreamJob {
  std::vector<StreamFrame> frames;
  std::vector<pipeline::Crop> crops;
  std::vector<std::pair<size_t, size_t>> chunks;
  std::vector<NetworkInput> inputs;    // per chunk, after preprocess
  std::vector<FrameOutputs> outputs;   // per chunk, after the frame graph (overlapped backends)
  pipeline::Timings timings;
  int64_t copy_bytes = 0;  // the frames' 3-channel copies, charged to the memory budget
  // The step's network inputs would exceed the memory budget's share if all
  // were held ahead: each call is prepared and run by the finishing thread.
  bool prepared_late = false;
};

}  // namespace

FrameSource::~FrameSource() = default;

struct Stream::Impl {
  Segmenter::Impl& seg;
  std::vector<std::unique_ptr<FrameSource>> sources;
  std::vector<std::string> names;
  StreamMode mode;
  bool overlap;   // the frame graph apart from select + tail (the backend allows it)
  bool latency;   // latency mode: a step starts only when the step after it is free
  bool one_step;  // StreamOptions::overlap off: a step starts once the previous one is finished
  StepGate gate;
  SourceQueues<StreamFrame> captured;
  Channel<std::unique_ptr<StreamJob>> planned, inferred;
  Channel<StreamResult> results;
  std::vector<std::unique_ptr<Tracker>> trackers;  // one per source, used by the finishing thread only
  std::vector<std::thread> threads;
  std::mutex join_mutex;
  std::mutex error_mutex;
  std::exception_ptr error;
  bool error_reported = false;
  std::mutex dropped_mutex;
  std::vector<int64_t> dropped_total, dropped_reported;  // per source, under dropped_mutex

  static std::vector<SourceQueues<StreamFrame>::Queue> queues_for(
      const std::vector<std::unique_ptr<FrameSource>>& sources, StreamMode mode, size_t depth) {
    std::vector<SourceQueues<StreamFrame>::Queue> out;
    for (const auto& s : sources) {
      // latency mode on a live source: the newest frame wins
      const bool drops = mode == StreamMode::kLatency && s->live();
      out.push_back({drops ? size_t{1} : depth, drops});
    }
    return out;
  }

  Impl(Segmenter::Impl& s, std::vector<std::unique_ptr<FrameSource>> srcs, const StreamOptions& o, size_t depth)
      : seg(s),
        sources(std::move(srcs)),
        mode(o.mode),
        overlap(s.backend->overlaps_graphs()),
        latency(o.mode == StreamMode::kLatency),
        one_step(!o.overlap),
        captured(queues_for(sources, o.mode, depth)),
        planned(depth),
        inferred(depth),
        results(depth * sources.size()),
        dropped_total(sources.size(), 0),
        dropped_reported(sources.size(), 0) {
    for (const auto& src : sources) {
      names.push_back(src->name());
      trackers.emplace_back(o.track ? new Tracker(o.tracker) : nullptr);
    }
  }

  void fail(std::exception_ptr e) {
    {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = e;
    }
    captured.close_and_clear();
    gate.close();
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

  // A source's own error, or a frame the memory budget refuses, ends every
  // source after the frames read before it (they are delivered, then the
  // error); an error of a later step drops
  // what is in flight.
  void capture(size_t s) {
    try {
      for (int64_t index = 0; !captured.stopping(); ++index) {
        StreamFrame f;
        if (!sources[s]->read(&f.source_frame)) break;
        f.arrival = pipeline::Clock::now();
        f.source = s;
        f.index = index;
        f.timestamp = f.source_frame.timestamp >= 0.0 ? f.source_frame.timestamp : system_seconds();
        int64_t dropped = 0;
        const bool ok = captured.push(s, std::move(f), &dropped);
        if (dropped) {
          std::lock_guard<std::mutex> lock(dropped_mutex);
          dropped_total[s] += dropped;
        }
        if (!ok) break;
      }
    } catch (...) {
      {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
      }
      captured.stop_reading();  // the other sources end after the frame each is reading
    }
    captured.end(s);
  }

  // Preprocess, and in latency mode the frame graph too (below). Throughput
  // mode hands each step on through queues of queue_size. Latency mode takes
  // the sources' newest frames only once the next step has taken the
  // previous ones, so a frame never waits in a queue behind another: with
  // the frame graph on this thread, a frame waits at most for the finishing
  // of the one before it.
  void preprocess() {
    Channel<std::unique_ptr<StreamJob>>& out = latency && overlap ? inferred : planned;
    guarded([&] {
      std::vector<std::pair<size_t, StreamFrame>> step;
      for (;;) {
        if (latency && !out.wait_empty()) return;
        if (one_step && !gate.acquire()) return;
        // throughput: a frame of every running source per step; latency: what is ready
        if (!captured.gather(!latency, &step)) return;
        const auto t0 = pipeline::Clock::now();
        auto job = std::unique_ptr<StreamJob>(new StreamJob);
        for (auto& item : step) job->frames.push_back(std::move(item.second));
        for (const StreamFrame& f : job->frames) job->copy_bytes += frame_copy_bytes(f.source_frame.image);
        if (!fits_budget(*job)) return;
        for (StreamFrame& f : job->frames) {
          f.frame = to_three_channels(f.source_frame.image, seg.meta.uint16, names[f.source] + " frame");
          const std::vector<pipeline::Crop> crops = seg.crops_of(f.frame, seg.tile_size, seg.tile_overlap, &f.tiles);
          f.first_crop = job->crops.size();
          f.crop_count = crops.size();
          job->crops.insert(job->crops.end(), crops.begin(), crops.end());
        }
        job->chunks = seg.chunks_of(job->crops.size(), job->copy_bytes);
        job->prepared_late = !seg.memory.holds_inputs(static_cast<int64_t>(job->crops.size()), job->copy_bytes);
        if (seg.meta.stride_grid) {  // each input takes its frame's shape: estimated one by one, prepared call by call
          if (!inputs_fit_budget(*job)) return;
          job->prepared_late = true;
        }
        if (!job->prepared_late)
          for (size_t c = 0; c < job->chunks.size(); ++c) job->inputs.push_back(prepare_call(*job, c));
        job->timings["preprocess"] += pipeline::ms_since(t0, pipeline::Clock::now());
        if (latency && overlap) run_frame_graph(job.get());
        if (!out.push(std::move(job))) return;
      }
    });
    out.close();
  }

  // A step whose frames the memory budget refuses ends the stream like a
  // source's error: the frames before it are delivered, then the error.
  bool fits_budget(const StreamJob& job) {
    return within_budget([&] {
      for (const StreamFrame& f : job.frames) {
        const ImageView& image = f.source_frame.image;
        seg.memory.check_frames(message(names[f.source], " frame ", f.index, ": a ", image.width, " x ",
                                        image.height, " frame",
                                        job.frames.size() > 1 ? " (with the other sources' frames)" : ""),
                                job.copy_bytes);
      }
    });
  }

  // A stride-grid model's inputs, each by its own shape.
  bool inputs_fit_budget(const StreamJob& job) {
    return within_budget([&] {
      for (const pipeline::Crop& c : job.crops) seg.check_stride_grid_input(c, job.copy_bytes);
    });
  }

  // Runs `check`; its MemoryBudgetExceeded becomes the stream's error.
  template <typename Check>
  bool within_budget(Check check) {
    try {
      check();
      return true;
    } catch (const MemoryBudgetExceeded&) {
      {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
      }
      captured.close_and_clear();
      return false;
    }
  }

  NetworkInput prepare_call(const StreamJob& job, size_t chunk) const {
    const auto& c = job.chunks[chunk];
    return seg.preprocess(std::vector<pipeline::Crop>(job.crops.begin() + c.first, job.crops.begin() + c.second));
  }

  void run_frame_graph(StreamJob* job) {
    const auto t0 = pipeline::Clock::now();
    for (const NetworkInput& in : job->inputs) job->outputs.push_back(seg.infer(in));
    job->timings["frame"] += pipeline::ms_since(t0, pipeline::Clock::now());
  }

  // The frame graph on its own thread (throughput mode, overlapping backends).
  void infer() {
    guarded([&] {
      std::unique_ptr<StreamJob> job;
      while (planned.pop(&job)) {
        run_frame_graph(job.get());
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
      // latency mode: a frame is finished once the caller has taken the result before it
      while ((!latency || results.wait_empty()) && in.pop(&job)) {
        std::vector<Instances> per_crop;
        int64_t held = 0;
        for (size_t c = 0; c < job->chunks.size(); ++c) {
          NetworkInput late;
          if (job->prepared_late) {
            const auto t0 = pipeline::Clock::now();
            late = prepare_call(*job, c);
            job->timings["preprocess"] += pipeline::ms_since(t0, pipeline::Clock::now());
          }
          const NetworkInput& input = job->prepared_late ? late : job->inputs[c];
          FrameOutputs own;
          if (!overlap || job->prepared_late) {
            const auto t0 = pipeline::Clock::now();
            own = seg.infer(input);
            job->timings["frame"] += pipeline::ms_since(t0, pipeline::Clock::now());
          }
          const FrameOutputs& outputs = overlap && !job->prepared_late ? job->outputs[c] : own;
          std::vector<Instances> part;
          {
            // the selection settings may be changed between frames, never during one
            std::lock_guard<std::mutex> lock(seg.mutex);
            part = seg.finish(job->crops.data() + job->chunks[c].first, input, outputs, false, &job->timings,
                              job->copy_bytes);
          }
          for (Instances& inst : part) {
            held += static_cast<int64_t>(inst.size());
            per_crop.push_back(std::move(inst));
          }
          seg.memory.check_results(held, job->copy_bytes);
        }
        job->inputs.clear();  // the network inputs and frame-graph outputs go before the results wait
        job->outputs.clear();
        for (StreamFrame& f : job->frames) {
          StreamResult r;
          r.source = names[f.source];
          r.source_index = static_cast<int>(f.source);
          r.frame_index = f.index;
          r.timestamp = f.timestamp;
          std::vector<Instances> own(std::make_move_iterator(per_crop.begin() + f.first_crop),
                                     std::make_move_iterator(per_crop.begin() + f.first_crop + f.crop_count));
          r.instances = seg.assemble(f.frame, f.tiles, std::move(own), job->timings);
          if (trackers[f.source]) r.instances.track_ids = trackers[f.source]->update(r.instances);
          r.latency_ms = pipeline::ms_since(f.arrival, pipeline::Clock::now());
          {
            std::lock_guard<std::mutex> lock(dropped_mutex);
            r.dropped = dropped_total[f.source] - dropped_reported[f.source];
            dropped_reported[f.source] = dropped_total[f.source];
          }
          r.frame = std::move(f.source_frame);
          if (!results.push(std::move(r))) return;
        }
        if (one_step) gate.release();
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

namespace {

std::vector<std::unique_ptr<FrameSource>> one_source(std::unique_ptr<FrameSource> source) {
  std::vector<std::unique_ptr<FrameSource>> sources;
  sources.push_back(std::move(source));
  return sources;
}

}  // namespace

Stream::Stream(Segmenter& segmenter, std::unique_ptr<FrameSource> source, const StreamOptions& options)
    : Stream(segmenter, one_source(std::move(source)), options) {}

Stream::Stream(Segmenter& segmenter, std::vector<std::unique_ptr<FrameSource>> sources,
               const StreamOptions& options) {
  if (sources.empty()) throw InvalidArgument("Stream: sources must hold at least one source, got none");
  for (size_t i = 0; i < sources.size(); ++i)
    if (!sources[i])
      throw InvalidArgument(sources.size() == 1 ? std::string("Stream: source must not be null")
                                                : message("Stream: sources[", i, "] must not be null"));
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
    impl_.reset(new Impl(seg, std::move(sources), options, depth));
    Impl* s = impl_.get();
    for (size_t i = 0; i < s->sources.size(); ++i) s->threads.emplace_back([s, i] { s->capture(i); });
    s->threads.emplace_back([s] { s->preprocess(); });
    if (s->overlap && !s->latency) s->threads.emplace_back([s] { s->infer(); });
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
  impl_->gate.close();
  impl_->planned.close_and_clear();
  impl_->inferred.close_and_clear();
  impl_->results.close_and_clear();
  impl_->join();
}

}  // namespace fassst
