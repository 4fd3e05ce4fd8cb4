// Video reading and writing for the example.
//
// YUV4MPEG2 (.y4m) is read and written here in every build: it is the raw
// stream `ffmpeg -i in.mp4 -pix_fmt yuv420p out.y4m` writes, so a video can be
// segmented without any codec library, and this path is compiled and tested
// in this project's CI. Where OpenCV was found at build time
// (FASSST_EXAMPLE_WITH_OPENCV), any other container or a camera index goes
// through cv::VideoCapture / cv::VideoWriter; that part is NOT compiled in
// this project's CI (no OpenCV C++ headers there), so it is kept small and
// mirrors the y4m path.
#pragma once

#include <memory>
#include <string>

#include "image_io.h"

struct VideoInfo {
  int width = 0, height = 0;
  int fps_num = 25, fps_den = 1;  // frame rate as a fraction (y4m's F)
  bool full_range = false;        // y4m XCOLORRANGE=FULL; limited (16-235) otherwise
};

class VideoReader {
 public:
  virtual ~VideoReader() = default;
  virtual const VideoInfo& info() const = 0;
  // The next frame as 8-bit BGR (channels 3); false at the end of the stream.
  // Throws std::runtime_error naming the file on a malformed or truncated frame.
  virtual bool read(Image& bgr) = 0;
};

class VideoWriter {
 public:
  virtual ~VideoWriter() = default;
  virtual void write(const Image& bgr) = 0;  // 8-bit BGR of the size given at creation
};

// YUV4MPEG2 input. The stream header must give W, H and F; C may be 420,
// 420jpeg, 420paldv, 420mpeg2 (all 8-bit 4:2:0, they differ only in chroma
// siting) or mono; absent C means 420jpeg (the format's default). I must be p
// (or absent): interlaced streams are rejected. XCOLORRANGE=FULL|LIMITED picks
// the range, limited by default. Frames are converted to BGR with the BT.601
// matrix; chroma is upsampled by nearest neighbour (each chroma sample covers
// its 2x2 luma block, whatever the declared siting), which is what a
// detector needs and keeps the conversion easy to check.
class Y4mReader : public VideoReader {
 public:
  explicit Y4mReader(const std::string& path);
  ~Y4mReader() override;
  const VideoInfo& info() const override { return info_; }
  bool read(Image& bgr) override;
  bool mono() const { return mono_; }

 private:
  struct File;
  std::unique_ptr<File> file_;
  std::string path_;
  VideoInfo info_;
  bool mono_ = false;
  long frame_ = 0;
};

// YUV4MPEG2 output, C420jpeg progressive, BT.601 in the range of `info`
// (XCOLORRANGE written so that readers need not guess). Chroma is the mean of
// each 2x2 block (the natural inverse of nearest upsampling).
class Y4mWriter : public VideoWriter {
 public:
  Y4mWriter(const std::string& path, const VideoInfo& info);
  ~Y4mWriter() override;
  void write(const Image& bgr) override;

 private:
  struct File;
  std::unique_ptr<File> file_;
  std::string path_;
  VideoInfo info_;
};

// A path this build reads as a video: *.y4m always; with OpenCV also common
// containers (mp4, avi, mkv, mov, webm, mjpeg...) and a camera index ("0").
bool is_video_input(const std::string& path);
// .y4m -> Y4mReader; otherwise OpenCV where built with it; else an error
// saying which formats this build reads.
std::unique_ptr<VideoReader> open_video(const std::string& path);
// .y4m -> Y4mWriter; otherwise OpenCV (mp4v for .mp4, MJPG otherwise) where
// built with it; else an error.
std::unique_ptr<VideoWriter> create_video(const std::string& path, const VideoInfo& info);

// BT.601 YUV <-> BGR for one pixel, exposed for the reader's tests and the
// writer. Rounded to nearest and clamped to 0..255.
void yuv_to_bgr(int y, int u, int v, bool full_range, uint8_t bgr[3]);
void bgr_to_yuv(const uint8_t bgr[3], bool full_range, float yuv[3]);  // unrounded
