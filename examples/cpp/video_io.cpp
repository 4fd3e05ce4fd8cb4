#include "video_io.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <vector>

#if defined(FASSST_EXAMPLE_WITH_OPENCV)
// Not compiled in this project's CI (no OpenCV C++ headers there).
#include <opencv2/videoio.hpp>
#endif

namespace {

// BT.601 (Rec. ITU-R BT.601): luma weights Kr, Kb; Kg = 1 - Kr - Kb.
constexpr double kKr = 0.299, kKb = 0.114, kKg = 1.0 - kKr - kKb;

bool ends_with(const std::string& s, const std::string& tail) {
  if (s.size() < tail.size()) return false;
  for (size_t i = 0; i < tail.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[s.size() - tail.size() + i])) != tail[i]) return false;
  return true;
}

uint8_t clamp_round(double v) { return static_cast<uint8_t>(v <= 0 ? 0 : v >= 255 ? 255 : std::lround(v)); }

// A header token shown in an error: printable, short.
std::string shown(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (out.size() >= 40) return out + "...";
    out += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
  }
  return out;
}

// A positive decimal integer, the whole of `s`; -1 otherwise.
long parse_positive(const std::string& s) {
  if (s.empty() || s.size() > 9) return -1;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return -1;
  const long v = std::strtol(s.c_str(), nullptr, 10);
  return v > 0 ? v : -1;
}

// Chroma planes of 4:2:0 round up for odd sizes (as ffmpeg writes them).
int half_up(int n) { return (n + 1) / 2; }

}  // namespace

void yuv_to_bgr(int y, int u, int v, bool full_range, uint8_t bgr[3]) {
  // Limited range: Y in 16..235 (219 steps), Cb/Cr in 16..240 around 128 (224 steps).
  const double ys = full_range ? 1.0 : 255.0 / 219.0, cs = full_range ? 1.0 : 255.0 / 224.0;
  const double yy = ys * (y - (full_range ? 0 : 16)), cb = cs * (u - 128), cr = cs * (v - 128);
  bgr[0] = clamp_round(yy + 2 * (1 - kKb) * cb);
  bgr[1] = clamp_round(yy - (2 * (1 - kKb) * kKb / kKg) * cb - (2 * (1 - kKr) * kKr / kKg) * cr);
  bgr[2] = clamp_round(yy + 2 * (1 - kKr) * cr);
}

void bgr_to_yuv(const uint8_t bgr[3], bool full_range, float yuv[3]) {
  const double luma = kKr * bgr[2] + kKg * bgr[1] + kKb * bgr[0];  // 0..255
  const double cb = (bgr[0] - luma) / (2 * (1 - kKb)), cr = (bgr[2] - luma) / (2 * (1 - kKr));  // -127.5..127.5
  if (full_range) {
    yuv[0] = static_cast<float>(luma);
    yuv[1] = static_cast<float>(128 + cb);
    yuv[2] = static_cast<float>(128 + cr);
  } else {
    yuv[0] = static_cast<float>(16 + luma * 219.0 / 255.0);
    yuv[1] = static_cast<float>(128 + cb * 224.0 / 255.0);
    yuv[2] = static_cast<float>(128 + cr * 224.0 / 255.0);
  }
}

// ---------------------------------------------------------------- Y4mReader

struct Y4mReader::File {
  std::FILE* f = nullptr;
  ~File() {
    if (f) std::fclose(f);
  }
};

Y4mReader::~Y4mReader() = default;

Y4mReader::Y4mReader(const std::string& path) : file_(new File), path_(path) {
  file_->f = std::fopen(path.c_str(), "rb");
  if (!file_->f) throw std::runtime_error(path + ": cannot open");
  // The stream header: one line, "YUV4MPEG2" then space-separated tagged fields.
  std::string line;
  for (int c; (c = std::fgetc(file_->f)) != '\n';) {
    if (c == EOF) throw std::runtime_error(path + ": not a YUV4MPEG2 stream: expected a header line ending in a newline, got " +
                                           (line.empty() ? std::string("an empty file") : "\"" + shown(line) + "\" and the end of the file"));
    if (line.size() > 4096) throw std::runtime_error(path + ": not a YUV4MPEG2 stream: expected a header line, got more than 4096 bytes without a newline");
    line += static_cast<char>(c);
  }
  std::vector<std::string> fields;
  for (size_t pos = 0; pos <= line.size();) {
    size_t end = line.find(' ', pos);
    if (end == std::string::npos) end = line.size();
    if (end > pos) fields.push_back(line.substr(pos, end - pos));
    pos = end + 1;
  }
  if (fields.empty() || fields[0] != "YUV4MPEG2")
    throw std::runtime_error(path + ": not a YUV4MPEG2 stream: expected the header to start with \"YUV4MPEG2 \", got \"" +
                             shown(line) + "\"");
  std::string chroma = "420jpeg";  // the format's default when C is absent
  bool have_w = false, have_h = false, have_f = false;
  auto bad = [&](const std::string& field, const std::string& expected) {
    return std::runtime_error(path + ": YUV4MPEG2 header field \"" + shown(field) + "\": expected " + expected);
  };
  for (size_t i = 1; i < fields.size(); ++i) {
    const std::string& f = fields[i];
    const std::string v = f.substr(1);
    switch (f[0]) {
      case 'W':
      case 'H': {
        const long n = parse_positive(v);
        if (n < 1 || n > 65536) throw bad(f, std::string(1, f[0]) + " and a positive integer <= 65536");
        (f[0] == 'W' ? info_.width : info_.height) = static_cast<int>(n);
        (f[0] == 'W' ? have_w : have_h) = true;
        break;
      }
      case 'F': {
        const size_t colon = v.find(':');
        const long num = colon == std::string::npos ? -1 : parse_positive(v.substr(0, colon));
        const long den = colon == std::string::npos ? -1 : parse_positive(v.substr(colon + 1));
        if (num < 1 || den < 1) throw bad(f, "F<num>:<den> with positive integers (e.g. F25:1, F30000:1001)");
        info_.fps_num = static_cast<int>(num);
        info_.fps_den = static_cast<int>(den);
        have_f = true;
        break;
      }
      case 'I':
        if (v != "p")
          throw bad(f, "Ip (progressive); interlaced or unknown field order (It, Ib, Im, I?) is not supported");
        break;
      case 'C':
        chroma = v;
        break;
      case 'X':
        if (v.compare(0, 11, "COLORRANGE=") == 0) {
          const std::string r = v.substr(11);
          if (r != "FULL" && r != "LIMITED") throw bad(f, "XCOLORRANGE=FULL or XCOLORRANGE=LIMITED");
          info_.full_range = r == "FULL";
        }  // other X (application) fields carry nothing this reader needs
        break;
      case 'A':  // pixel aspect ratio: the model works in pixels
        break;
      default:
        throw bad(f, "one of the YUV4MPEG2 fields W H F I A C X");
    }
  }
  if (!have_w || !have_h || !have_f)
    throw std::runtime_error(path + ": YUV4MPEG2 header \"" + shown(line) + "\": expected W, H and F fields, got " +
                             (have_w ? "" : "no W ") + (have_h ? "" : "no H ") + (have_f ? "" : "no F"));
  if (chroma == "mono") {
    mono_ = true;
  } else if (chroma != "420" && chroma != "420jpeg" && chroma != "420paldv" && chroma != "420mpeg2") {
    throw bad("C" + chroma, "C420, C420jpeg, C420paldv, C420mpeg2 or Cmono (8-bit); convert with "
                            "ffmpeg -i IN -pix_fmt yuv420p OUT.y4m");
  }
}

bool Y4mReader::read(Image& bgr) {
  // Each frame: "FRAME", optional fields, a newline, then the Y, U, V planes.
  std::string head;
  for (int c; (c = std::fgetc(file_->f)) != '\n';) {
    if (c == EOF) {
      if (head.empty()) return false;  // the end of the stream between frames
      throw std::runtime_error(path_ + ": frame " + std::to_string(frame_) + ": truncated frame header \"" + shown(head) + "\"");
    }
    if (head.size() > 4096) break;
    head += static_cast<char>(c);
  }
  if (head.compare(0, 5, "FRAME") != 0 || (head.size() > 5 && head[5] != ' '))
    throw std::runtime_error(path_ + ": frame " + std::to_string(frame_) + ": expected a \"FRAME\" header, got \"" +
                             shown(head) + "\" (wrong W/H/C in the stream header?)");
  const int w = info_.width, h = info_.height, cw = half_up(w), ch = half_up(h);
  const size_t luma = static_cast<size_t>(w) * h, chroma = mono_ ? 0 : static_cast<size_t>(cw) * ch;
  std::vector<uint8_t> planes(luma + 2 * chroma);
  const size_t got = std::fread(planes.data(), 1, planes.size(), file_->f);
  if (got != planes.size())
    throw std::runtime_error(path_ + ": frame " + std::to_string(frame_) + ": truncated: expected " +
                             std::to_string(planes.size()) + " bytes of planes, got " + std::to_string(got));
  bgr.width = w;
  bgr.height = h;
  bgr.channels = 3;
  bgr.sixteen = false;
  bgr.pixels.resize(luma * 3);
  const uint8_t* yp = planes.data();
  const uint8_t* up = yp + luma;
  const uint8_t* vp = up + chroma;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const size_t c = static_cast<size_t>(y / 2) * cw + x / 2;  // nearest: the chroma sample of this 2x2 block
      yuv_to_bgr(yp[static_cast<size_t>(y) * w + x], mono_ ? 128 : up[c], mono_ ? 128 : vp[c], info_.full_range,
                 &bgr.pixels[(static_cast<size_t>(y) * w + x) * 3]);
    }
  ++frame_;
  return true;
}

// ---------------------------------------------------------------- Y4mWriter

struct Y4mWriter::File {
  std::FILE* f = nullptr;
  ~File() {
    if (f) std::fclose(f);
  }
};

Y4mWriter::~Y4mWriter() = default;

Y4mWriter::Y4mWriter(const std::string& path, const VideoInfo& info) : file_(new File), path_(path), info_(info) {
  if (info.width < 1 || info.height < 1 || info.fps_num < 1 || info.fps_den < 1)
    throw std::runtime_error(path + ": cannot write a " + std::to_string(info.width) + "x" + std::to_string(info.height) +
                             " video at " + std::to_string(info.fps_num) + "/" + std::to_string(info.fps_den) + " fps");
  file_->f = std::fopen(path.c_str(), "wb");
  if (!file_->f) throw std::runtime_error(path + ": cannot write");
  const std::string header = "YUV4MPEG2 W" + std::to_string(info.width) + " H" + std::to_string(info.height) + " F" +
                             std::to_string(info.fps_num) + ":" + std::to_string(info.fps_den) +
                             " Ip A1:1 C420jpeg XCOLORRANGE=" + (info.full_range ? "FULL" : "LIMITED") + "\n";
  if (std::fwrite(header.data(), 1, header.size(), file_->f) != header.size())
    throw std::runtime_error(path + ": write failed");
}

void Y4mWriter::write(const Image& bgr) {
  const int w = info_.width, h = info_.height, cw = half_up(w), ch = half_up(h);
  if (bgr.width != w || bgr.height != h || bgr.channels != 3 || bgr.sixteen)
    throw std::runtime_error(path_ + ": frames must be 8-bit BGR " + std::to_string(w) + "x" + std::to_string(h) +
                             ", got " + std::to_string(bgr.width) + "x" + std::to_string(bgr.height) + "x" +
                             std::to_string(bgr.channels));
  const size_t luma = static_cast<size_t>(w) * h, chroma = static_cast<size_t>(cw) * ch;
  std::vector<uint8_t> planes(luma + 2 * chroma);
  std::vector<float> usum(chroma, 0.f), vsum(chroma, 0.f), count(chroma, 0.f);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      float yuv[3];
      bgr_to_yuv(&bgr.pixels[(static_cast<size_t>(y) * w + x) * 3], info_.full_range, yuv);
      planes[static_cast<size_t>(y) * w + x] = clamp_round(yuv[0]);
      const size_t c = static_cast<size_t>(y / 2) * cw + x / 2;
      usum[c] += yuv[1];
      vsum[c] += yuv[2];
      count[c] += 1;
    }
  for (size_t c = 0; c < chroma; ++c) {
    planes[luma + c] = clamp_round(usum[c] / count[c]);
    planes[luma + chroma + c] = clamp_round(vsum[c] / count[c]);
  }
  static const char kFrame[] = "FRAME\n";
  if (std::fwrite(kFrame, 1, 6, file_->f) != 6 || std::fwrite(planes.data(), 1, planes.size(), file_->f) != planes.size())
    throw std::runtime_error(path_ + ": write failed");
}

// ---------------------------------------------------------------- OpenCV (not compiled in CI)

#if defined(FASSST_EXAMPLE_WITH_OPENCV)
namespace {

bool is_camera_index(const std::string& s) {
  if (s.empty() || s.size() > 3) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

// Mirrors Y4mReader: 8-bit BGR frames, false at the end.
class CvReader : public VideoReader {
 public:
  explicit CvReader(const std::string& path) : path_(path) {
    if (is_camera_index(path) ? !cap_.open(std::atoi(path.c_str())) : !cap_.open(path))
      throw std::runtime_error(path + ": OpenCV cannot open it as a video or camera");
    info_.width = static_cast<int>(cap_.get(cv::CAP_PROP_FRAME_WIDTH));
    info_.height = static_cast<int>(cap_.get(cv::CAP_PROP_FRAME_HEIGHT));
    const double fps = cap_.get(cv::CAP_PROP_FPS);
    if (fps > 0) {  // y4m wants a fraction: millihertz precision covers 30000/1001
      info_.fps_num = static_cast<int>(std::lround(fps * 1000));
      info_.fps_den = 1000;
    }
  }
  const VideoInfo& info() const override { return info_; }
  bool read(Image& bgr) override {
    cv::Mat m;
    if (!cap_.read(m) || m.empty()) return false;
    if (m.type() != CV_8UC3) throw std::runtime_error(path_ + ": OpenCV gave a frame that is not 8-bit BGR");
    bgr.width = m.cols;
    bgr.height = m.rows;
    bgr.channels = 3;
    bgr.sixteen = false;
    bgr.pixels.resize(static_cast<size_t>(m.cols) * m.rows * 3);
    for (int y = 0; y < m.rows; ++y)
      std::copy(m.ptr<uint8_t>(y), m.ptr<uint8_t>(y) + m.cols * 3, bgr.pixels.begin() + static_cast<size_t>(y) * m.cols * 3);
    return true;
  }

 private:
  std::string path_;
  cv::VideoCapture cap_;
  VideoInfo info_;
};

class CvWriter : public VideoWriter {
 public:
  CvWriter(const std::string& path, const VideoInfo& info) : path_(path) {
    const int fourcc = ends_with(path, ".mp4") ? cv::VideoWriter::fourcc('m', 'p', '4', 'v')
                                               : cv::VideoWriter::fourcc('M', 'J', 'P', 'G');
    if (!out_.open(path, fourcc, static_cast<double>(info.fps_num) / info.fps_den, cv::Size(info.width, info.height)))
      throw std::runtime_error(path + ": OpenCV cannot write this video");
  }
  void write(const Image& bgr) override {
    out_.write(cv::Mat(bgr.height, bgr.width, CV_8UC3, const_cast<uint8_t*>(bgr.pixels.data())));
  }

 private:
  std::string path_;
  cv::VideoWriter out_;
};

}  // namespace
#endif

bool is_video_input(const std::string& path) {
  if (ends_with(path, ".y4m")) return true;
#if defined(FASSST_EXAMPLE_WITH_OPENCV)
  for (const char* ext : {".mp4", ".avi", ".mkv", ".mov", ".webm", ".mjpeg", ".mpg", ".m4v"})
    if (ends_with(path, ext)) return true;
  return is_camera_index(path);
#else
  return false;
#endif
}

std::unique_ptr<VideoReader> open_video(const std::string& path) {
  if (ends_with(path, ".y4m")) return std::unique_ptr<VideoReader>(new Y4mReader(path));
#if defined(FASSST_EXAMPLE_WITH_OPENCV)
  return std::unique_ptr<VideoReader>(new CvReader(path));
#else
  throw std::runtime_error(path + ": this build reads .y4m videos only (built without OpenCV); convert with "
                                  "ffmpeg -i IN -pix_fmt yuv420p OUT.y4m");
#endif
}

std::unique_ptr<VideoWriter> create_video(const std::string& path, const VideoInfo& info) {
  if (ends_with(path, ".y4m")) return std::unique_ptr<VideoWriter>(new Y4mWriter(path, info));
#if defined(FASSST_EXAMPLE_WITH_OPENCV)
  return std::unique_ptr<VideoWriter>(new CvWriter(path, info));
#else
  throw std::runtime_error(path + ": this build writes .y4m videos only (built without OpenCV)");
#endif
}
