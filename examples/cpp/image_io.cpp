#include "image_io.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>

#if defined(FASSST_EXAMPLE_WITH_OPENCV)
#include <opencv2/imgcodecs.hpp>
#elif defined(FASSST_EXAMPLE_WITH_PNG)
#include <png.h>
#endif

namespace {

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// Binary PGM (P5) / PPM (P6), maxval 255 or 65535 (16-bit grey only).
Image read_pnm(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  std::string magic;
  in >> magic;
  auto number = [&]() {
    int v = -1;
    while (in >> std::ws && in.peek() == '#') in.ignore(1 << 20, '\n');  // comments
    in >> v;
    return v;
  };
  const int w = number(), h = number(), maxval = number();
  in.get();  // the single whitespace before the raster
  if ((magic != "P5" && magic != "P6") || w < 1 || h < 1 || (maxval != 255 && maxval != 65535))
    throw std::runtime_error(path + ": not a binary PGM/PPM with maxval 255 or 65535 (got " + magic + ")");
  Image img;
  img.width = w;
  img.height = h;
  img.channels = magic == "P6" ? 3 : 1;
  img.sixteen = maxval == 65535;
  if (img.sixteen && img.channels != 1) throw std::runtime_error(path + ": 16-bit PPM is not supported, only PGM");
  const size_t bytes = static_cast<size_t>(w) * h * img.channels * (img.sixteen ? 2 : 1);
  img.pixels.resize(bytes);
  in.read(reinterpret_cast<char*>(img.pixels.data()), static_cast<std::streamsize>(bytes));
  if (static_cast<size_t>(in.gcount()) != bytes) throw std::runtime_error(path + ": truncated raster");
  if (img.sixteen)  // PGM stores big-endian samples
    for (size_t i = 0; i + 1 < bytes; i += 2) {
      const uint16_t v = static_cast<uint16_t>((img.pixels[i] << 8) | img.pixels[i + 1]);
      std::memcpy(&img.pixels[i], &v, 2);
    }
  if (img.channels == 3)  // PPM is RGB; the example works in OpenCV's BGR
    for (size_t i = 0; i < bytes; i += 3) std::swap(img.pixels[i], img.pixels[i + 2]);
  return img;
}

#if defined(FASSST_EXAMPLE_WITH_PNG)
Image read_png(const std::string& path) {
  png_image png;
  std::memset(&png, 0, sizeof(png));
  png.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&png, path.c_str()))
    throw std::runtime_error(path + ": " + png.message);
  Image img;
  img.width = static_cast<int>(png.width);
  img.height = static_cast<int>(png.height);
  const bool grey = (png.format & PNG_FORMAT_FLAG_COLOR) == 0;
  const bool deep = (png.format & PNG_FORMAT_FLAG_LINEAR) != 0;
  if (grey && deep) {  // 16-bit grey stays 16-bit (the model's 16-bit rule maps it)
    png.format = PNG_FORMAT_LINEAR_Y;
    img.channels = 1;
    img.sixteen = true;
  } else {
    png.format = grey ? PNG_FORMAT_GRAY : PNG_FORMAT_BGR;
    img.channels = grey ? 1 : 3;
  }
  img.pixels.resize(PNG_IMAGE_SIZE(png));
  if (!png_image_finish_read(&png, nullptr, img.pixels.data(), 0, nullptr))
    throw std::runtime_error(path + ": " + png.message);
  return img;
}

void write_png(const std::string& path, const Image& img) {
  png_image png;
  std::memset(&png, 0, sizeof(png));
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(img.width);
  png.height = static_cast<png_uint_32>(img.height);
  png.format = PNG_FORMAT_BGR;
  if (!png_image_write_to_file(&png, path.c_str(), 0, img.pixels.data(), 0, nullptr))
    throw std::runtime_error(path + ": " + png.message);
}
#endif

}  // namespace

void write_ppm(const std::string& path, const Image& img) {
  std::ofstream out(path, std::ios::binary);
  if (!out) throw std::runtime_error(path + ": cannot write");
  out << "P6\n" << img.width << " " << img.height << "\n255\n";
  std::vector<uint8_t> rgb(img.pixels);
  for (size_t i = 0; i + 2 < rgb.size(); i += 3) std::swap(rgb[i], rgb[i + 2]);
  out.write(reinterpret_cast<const char*>(rgb.data()), static_cast<std::streamsize>(rgb.size()));
}

std::string supported_formats() {
#if defined(FASSST_EXAMPLE_WITH_OPENCV)
  return "opencv,png,ppm,pgm";
#elif defined(FASSST_EXAMPLE_WITH_PNG)
  return "png,ppm,pgm";
#else
  return "ppm,pgm";
#endif
}

Image read_image(const std::string& path) {
#if defined(FASSST_EXAMPLE_WITH_OPENCV)
  cv::Mat m = cv::imread(path, cv::IMREAD_ANYDEPTH | cv::IMREAD_ANYCOLOR);
  if (m.empty()) throw std::runtime_error(path + ": OpenCV cannot read it");
  Image img;
  img.width = m.cols;
  img.height = m.rows;
  img.channels = m.channels() == 1 ? 1 : 3;
  img.sixteen = m.depth() == CV_16U;
  const int elem = img.sixteen ? 2 : 1;
  img.pixels.resize(static_cast<size_t>(img.width) * img.height * img.channels * elem);
  for (int y = 0; y < m.rows; ++y)
    for (int x = 0; x < m.cols; ++x)
      std::memcpy(&img.pixels[(static_cast<size_t>(y) * img.width + x) * img.channels * elem],
                  m.ptr<uint8_t>(y) + x * m.channels() * elem, static_cast<size_t>(img.channels) * elem);
  return img;
#else
  if (ends_with(path, ".ppm") || ends_with(path, ".pgm") || ends_with(path, ".pnm")) return read_pnm(path);
#if defined(FASSST_EXAMPLE_WITH_PNG)
  if (ends_with(path, ".png")) return read_png(path);
#endif
  throw std::runtime_error(path + ": this build reads " + supported_formats() + " only");
#endif
}

void write_image(const std::string& path, const Image& img) {
#if defined(FASSST_EXAMPLE_WITH_OPENCV)
  cv::Mat m(img.height, img.width, CV_8UC3, const_cast<uint8_t*>(img.pixels.data()));
  if (!cv::imwrite(path, m)) throw std::runtime_error(path + ": OpenCV cannot write it");
#else
#if defined(FASSST_EXAMPLE_WITH_PNG)
  if (ends_with(path, ".png")) return write_png(path, img);
#endif
  write_ppm(path, img);
#endif
}
