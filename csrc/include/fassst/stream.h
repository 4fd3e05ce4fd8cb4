// fassst::Stream: a Segmenter over a source of frames, its steps overlapped
// on threads with bounded queues between them (docs/streams.md):
//
//   capture -> preprocess -> frame graph -> select + RFF + tail + merge -> next()
//
// Two modes. Throughput: every frame, in order; each result equals the
// Segmenter's run() on that frame. Latency: a live source (a camera, a URL)
// is read by its own thread that keeps only the newest frame; stale frames
// are dropped and counted, a frame is taken only once the frame graph is
// free and finished only once the caller took the result before it (no
// frame waits behind another), and each result says how long its frame took
// from capture to result. A source that is not live (a file, a folder)
// never loses a frame in either mode. Each result of several sources equals
// run() up to the backend's rounding between batch sizes.
//
// Several sources (cameras): each is read by its own thread, and each step
// takes one frame of every source into one frame-graph call (the frames'
// crops batched, in calls of at most the Segmenter's max_batch); each source
// has its own tracker, and results say which source they come from
// (source_index), a step's results in source order. Throughput mode waits
// for a frame of every source still running, so no source gets ahead;
// latency mode takes the frames that are ready, so no source waits for
// another. A source that ends drops out of the steps, the others go on.
//
// Errors of any step (a source's included) end the stream and reach the
// caller from next(); a source's error ends every source, after the frames
// read before it. stop() (or the destructor) ends it early and joins every
// thread. While a Stream runs, its Segmenter runs nothing else.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fassst/export.h"
#include "fassst/instances.h"
#include "fassst/segmenter.h"
#include "fassst/tracker.h"

namespace fassst {

// One frame from a source: `image` stays valid while `owner` lives.
struct SourceFrame {
  ImageView image;
  std::shared_ptr<const void> owner;
  double timestamp = -1.0;  // capture time in seconds on the source's clock; < 0: stamped on arrival
};

// Where frames come from. read() is called from one thread (the stream's
// capture thread), never concurrently.
class FASSST_API FrameSource {
 public:
  virtual ~FrameSource();
  // The next frame; false at the end of the stream.
  virtual bool read(SourceFrame* frame) = 0;
  // A live source delivers frames whether they are read or not (a camera, a
  // network stream): in latency mode its stale frames are dropped.
  virtual bool live() const { return false; }
  virtual std::string name() const { return "source"; }
};

enum class StreamMode { kThroughput, kLatency };

struct StreamOptions {
  StreamMode mode = StreamMode::kThroughput;
  int queue_size = 4;  // frames each queue between steps holds (throughput mode), 1 to 64
  // Steps overlapped: one frame's graph runs while the frame before it is
  // finished (more frames per second where cores are to spare). false: one
  // step at a time, the next taken once the previous one's results are out
  // (the lower latency where the backend already uses every core).
  bool overlap = true;
  // Identities across frames: a tracker of these options (one per source)
  // sets each result's instances.track_ids, frames taken in order.
  bool track = false;
  TrackerOptions tracker;
};

struct StreamResult {
  std::string source;       // the source's name()
  int source_index = 0;     // its position in the sources the Stream was given
  int64_t frame_index = 0;  // the frame's index in the source, dropped frames counted
  double timestamp = 0.0;   // the frame's capture time (seconds; the source's, else the system clock's)
  Instances instances;
  double latency_ms = 0.0;  // from the frame's arrival to its result
  int64_t dropped = 0;      // frames dropped since the previous result (latency mode, live sources)
  SourceFrame frame;        // the frame as the source gave it (for overlays), kept alive by its owner
};

class FASSST_API Stream {
 public:
  // Starts the threads. `segmenter` must outlive the Stream and runs nothing
  // else meanwhile (its run() throws while a stream is active).
  Stream(Segmenter& segmenter, std::unique_ptr<FrameSource> source, const StreamOptions& options = StreamOptions());
  // Several sources batched into the same frame-graph calls (at least one;
  // none null).
  Stream(Segmenter& segmenter, std::vector<std::unique_ptr<FrameSource>> sources,
         const StreamOptions& options = StreamOptions());
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // The next result, blocking; false at the end of the stream (and after
  // stop()). Rethrows the error that ended the stream, once.
  bool next(StreamResult* result);
  // next() waiting at most `timeout`: false with *timed_out set when no
  // result came in time (the stream goes on), so that a caller can look at
  // its own signals (Ctrl-C) between waits.
  bool next_for(StreamResult* result, std::chrono::milliseconds timeout, bool* timed_out);
  // Ends the stream now: frames in flight are dropped, every thread joined.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fassst
