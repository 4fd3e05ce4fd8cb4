// Image reading and writing for the example: OpenCV where it was found at
// build time, else PNG (libpng) and binary PPM/PGM.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

struct Image {
  int width = 0, height = 0;
  int channels = 0;    // 1 (grey) or 3 (BGR, OpenCV's order)
  bool sixteen = false;  // 16-bit grey (native endianness)
  std::vector<uint8_t> pixels;  // rows packed
};

// Throws std::runtime_error naming the file.
Image read_image(const std::string& path);
// 3-channel BGR; PNG when the name ends in .png and PNG is supported, else PPM.
void write_image(const std::string& path, const Image& image);
// Binary PPM (P6) of a 3-channel BGR image, whatever the build.
void write_ppm(const std::string& path, const Image& image);
// "png,ppm,pgm" etc.: what read_image understands in this build.
std::string supported_formats();
