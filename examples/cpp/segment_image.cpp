// Segments an image or a video with a FASSST model and writes an overlay and
// the instances as JSON: the C++ twin of segment_image.py (same steps, same
// JSON as fassst_rt.Instances.to_json()).
//
//   segment_image MODEL.onnx INPUT [-o|--overlay OUT] [--json OUT.json]
//                 [--tile none|SIZE|SIZE:OVERLAP] [--threads N] [--formats]
//                 [--dump-frames DIR]   (videos: each decoded frame as DIR/frame_NNNNNN.ppm)
//
// An image gives one JSON object and an overlay image. A video (*.y4m in
// every build; with OpenCV also mp4/avi/... and a camera index) gives JSON
// lines: one object per frame (the image schema plus "frame": index), then
// {"frames": N, "median_frame_ms": M}; -o writes the annotated video (.y4m in
// every build); progress goes to stderr.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "fassst/fassst.h"
#include "image_io.h"
#include "video_io.h"

namespace {

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "segment_image: " << why << "\n"
            << "usage: segment_image MODEL.onnx IMAGE|VIDEO [-o|--overlay OUT] [--json OUT.json] "
               "[--tile none|SIZE|SIZE:OVERLAP] [--threads N] [--formats]\n";
  std::exit(2);
}

// n distinct saturated colours (golden-angle hues), as fassst_rt.results._palette.
void palette_colour(size_t i, float rgb[3]) {
  const double hue = std::fmod(static_cast<double>(i) * 0.618033988749895, 1.0);
  const double h6 = hue * 6;
  const float x = static_cast<float>(1 - std::fabs(std::fmod(h6, 2.0) - 1));
  const float table[6][3] = {{1, x, 0}, {x, 1, 0}, {0, 1, x}, {0, x, 1}, {x, 0, 1}, {1, 0, x}};
  const int sector = static_cast<int>(h6) % 6;
  for (int c = 0; c < 3; ++c) rgb[c] = table[sector][c] * 255.0f;
}

// Masks tinted per instance and boxes outlined on a BGR copy of the frame
// (fassst_rt.Instances.plot; its colours are symmetric in channel order).
Image overlay(const Image& frame8, const fassst::Instances& inst, float alpha = 0.5f) {
  Image out = frame8;
  const int w = inst.image_width, h = inst.image_height;
  for (size_t i = 0; i < inst.size(); ++i) {
    float colour[3];
    palette_colour(i, colour);
    const std::vector<uint8_t> mask = inst.mask(i);
    for (size_t p = 0; p < mask.size(); ++p)
      if (mask[p])
        for (int c = 0; c < 3; ++c)
          out.pixels[p * 3 + c] = static_cast<uint8_t>(out.pixels[p * 3 + c] * (1 - alpha) + colour[c] * alpha);
    auto clampi = [](int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; };
    const float* b = &inst.boxes[i * 4];
    const int x1 = clampi(static_cast<int>(std::lround(b[0])), 0, w - 1);
    const int x2 = clampi(static_cast<int>(std::lround(b[2])) - 1, 0, w - 1);
    const int y1 = clampi(static_cast<int>(std::lround(b[1])), 0, h - 1);
    const int y2 = clampi(static_cast<int>(std::lround(b[3])) - 1, 0, h - 1);
    auto put = [&](int x, int y) {
      for (int c = 0; c < 3; ++c) out.pixels[(static_cast<size_t>(y) * w + x) * 3 + c] = static_cast<uint8_t>(colour[c]);
    };
    for (int x = x1; x <= x2; ++x) put(x, y1), put(x, y2);
    for (int y = y1; y <= y2; ++y) put(x1, y), put(x2, y);
  }
  return out;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
      continue;
    }
    out += c;
  }
  return out + "\"";
}

std::string json_float(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.9g", v);  // float32 round-trips through 9 digits
  return buf;
}

// COCO uncompressed RLE of a row-major mask, counted column-major, starting
// with a run of zeros (fassst_rt.Instances.rle()).
std::string rle_json(const std::vector<uint8_t>& mask, int h, int w) {
  std::string counts;
  uint8_t current = 0;
  long run = 0;
  for (int x = 0; x < w; ++x)
    for (int y = 0; y < h; ++y) {
      const uint8_t v = mask[static_cast<size_t>(y) * w + x];
      if (v != current) {
        counts += (counts.empty() ? "" : ", ") + std::to_string(run);
        current = v;
        run = 0;
      }
      ++run;
    }
  counts += (counts.empty() ? "" : ", ") + std::to_string(run);
  return "{\"size\": [" + std::to_string(h) + ", " + std::to_string(w) + "], \"counts\": [" + counts + "]}";
}

std::string to_json(const fassst::Instances& inst) {
  std::string out = "{\"image_size\": [" + std::to_string(inst.image_height) + ", " + std::to_string(inst.image_width) +
                    "], \"instances\": [";
  for (size_t i = 0; i < inst.size(); ++i) {
    out += i ? ", " : "";
    out += "{\"label\": " + std::to_string(inst.labels[i]) + ", \"name\": " + json_string(inst.class_name(i)) +
           ", \"score\": " + json_float(inst.scores[i]) + ", \"box\": [";
    for (int j = 0; j < 4; ++j) out += (j ? ", " : "") + json_float(inst.boxes[i * 4 + j]);
    out += "], \"rle\": " + rle_json(inst.mask(i), inst.image_height, inst.image_width) + "}";
  }
  out += "], \"timings_ms\": {";
  bool first = true;
  for (const auto& kv : inst.timings) {
    out += (first ? "" : ", ") + json_string(kv.first) + ": " + json_float(kv.second);
    first = false;
  }
  return out + "}}";
}

fassst::ImageView view_of(const Image& image) {
  fassst::ImageView view;
  view.data = image.pixels.data();
  view.width = image.width;
  view.height = image.height;
  view.format = image.sixteen ? fassst::PixelFormat::kGray16
                : image.channels == 1 ? fassst::PixelFormat::kGray8
                                      : fassst::PixelFormat::kBGR;
  return view;
}

// A video: the same steps per frame. Frames are 8-bit BGR, so the overlay is
// drawn on the frame itself. The per-frame time is the wall time of run()
// (preprocess, both graphs, paste), the median over all frames.
int run_video(fassst::Segmenter& segmenter, const std::string& input, const std::string& overlay_path,
              const std::string& json_path, const std::string& dump_dir) {
  std::unique_ptr<VideoReader> reader = open_video(input);
  std::unique_ptr<VideoWriter> writer;
  std::ofstream json_file;
  if (!json_path.empty()) {
    json_file.open(json_path);
    if (!json_file) throw std::runtime_error(json_path + ": cannot write");
  }
  std::ostream& lines = json_path.empty() ? std::cout : json_file;
  std::vector<double> ms;
  Image frame;
  for (long index = 0; reader->read(frame); ++index) {
    if (!dump_dir.empty()) {  // the decoded frames as PPM, to check a decoder against a reference
      char name[32];
      std::snprintf(name, sizeof(name), "/frame_%06ld.ppm", index);
      write_ppm(dump_dir + name, frame);
    }
    const auto t0 = std::chrono::steady_clock::now();
    const fassst::Instances inst = segmenter.run(view_of(frame));
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    std::cerr << "segment_image: frame " << index << ": " << inst.size() << " instances, " << json_float(ms.back())
              << " ms\n";
    // the image schema with the frame index in front
    lines << "{\"frame\": " << index << ", " << to_json(inst).substr(1) << "\n";
    if (!overlay_path.empty()) {
      if (!writer) {  // sized by the first frame (OpenCV may not know the size before reading)
        VideoInfo info = reader->info();
        info.width = frame.width;
        info.height = frame.height;
        writer = create_video(overlay_path, info);
      }
      writer->write(overlay(frame, inst));
    }
  }
  double median = 0;
  if (!ms.empty()) {
    std::vector<double> sorted(ms);
    std::sort(sorted.begin(), sorted.end());
    const size_t n = sorted.size();
    median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  }
  lines << "{\"frames\": " << ms.size() << ", \"median_frame_ms\": " << json_float(median) << "}\n";
  std::cerr << "segment_image: " << ms.size() << " frames, median " << json_float(median) << " ms per frame\n";
  if (!lines) throw std::runtime_error((json_path.empty() ? std::string("stdout") : json_path) + ": write failed");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model, image_path, overlay_path, json_path, dump_dir;
  fassst::SegmenterOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "--formats") {
      std::cout << supported_formats() << ",y4m\n";  // images, then the videos every build reads
      return 0;
    } else if (a == "--overlay" || a == "-o") {
      overlay_path = value();
    } else if (a == "--dump-frames") {
      dump_dir = value();
    } else if (a == "--json") {
      json_path = value();
    } else if (a == "--threads") {
      options.num_threads = std::atoi(value().c_str());
    } else if (a == "--tile") {
      const std::string t = value();
      if (t == "none") {
        options.tiling = fassst::Tiling::kOff;
      } else {
        options.tiling = fassst::Tiling::kOn;
        const size_t colon = t.find(':');
        options.tile_size = std::atoi(t.substr(0, colon).c_str());
        if (colon != std::string::npos) options.tile_overlap = std::atoi(t.substr(colon + 1).c_str());
      }
    } else if (!a.empty() && a[0] == '-') {
      usage("unknown option " + a);
    } else if (model.empty()) {
      model = a;
    } else if (image_path.empty()) {
      image_path = a;
    } else {
      usage("unexpected argument " + a);
    }
  }
  if (model.empty() || image_path.empty()) usage("MODEL and IMAGE (or VIDEO) are required");

  try {
    // 1. the model (tiled as its metadata says, unless --tile)
    fassst::Segmenter segmenter(model, options);
    // a video: steps 2-4 per frame
    if (is_video_input(image_path)) return run_video(segmenter, image_path, overlay_path, json_path, dump_dir);
    // 2. the image, as the camera or file gives it
    const Image image = read_image(image_path);
    // 3. segment
    const fassst::Instances inst = segmenter.run(view_of(image));
    std::cerr << "segment_image: " << inst.size() << " instances in a " << inst.image_width << "x"
              << inst.image_height << " frame (" << json_float(inst.timings.at("frame")) << " ms frame graph)\n";
    // 4. outputs: JSON of the instances, an overlay
    const std::string doc = to_json(inst);
    if (json_path.empty()) {
      std::cout << doc << "\n";
    } else {
      std::ofstream(json_path) << doc << "\n";
    }
    if (!overlay_path.empty()) {
      Image frame8;  // the overlay is drawn on an 8-bit BGR copy
      frame8.width = image.width;
      frame8.height = image.height;
      frame8.channels = 3;
      frame8.pixels.resize(static_cast<size_t>(image.width) * image.height * 3);
      for (size_t p = 0; p < static_cast<size_t>(image.width) * image.height; ++p)
        for (int c = 0; c < 3; ++c)
          frame8.pixels[p * 3 + c] = image.sixteen            ? static_cast<uint8_t>(reinterpret_cast<const uint16_t*>(image.pixels.data())[p] >> 8)
                                     : image.channels == 1 ? image.pixels[p]
                                                           : image.pixels[p * 3 + c];
      write_image(overlay_path, overlay(frame8, inst));
    }
  } catch (const fassst::Error& e) {
    std::cerr << "segment_image: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "segment_image: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
