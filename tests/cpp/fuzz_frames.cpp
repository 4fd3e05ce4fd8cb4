#include "fuzz_frames.h"

#include <cstring>
#include <random>
#include <stdexcept>
#include <string>

namespace fuzz {
namespace {

int format_code(const Value& v) {
  if (!v.is_string()) return static_cast<int>(as_integer(v, "format"));
  static const char* const kNames[6] = {"bgr", "rgb", "bgra", "rgba", "gray8", "gray16"};
  for (int i = 0; i < 6; ++i)
    if (v.as_string() == kNames[i]) return i;
  throw std::invalid_argument("corpus frame format '" + v.as_string() + "' is unknown");
}

int bytes_per_pixel(int format) {
  switch (format) {
    case 2: case 3: return 4;
    case 4: return 1;
    case 5: return 2;
    default: return 3;
  }
}

int clamp_int(int64_t v) {
  return static_cast<int>(std::max<int64_t>(INT32_MIN, std::min<int64_t>(INT32_MAX, v)));
}

constexpr int64_t kMaxFrameBytes = int64_t{256} << 20;

}  // namespace

FrameBytes make_frame(const Value& spec, uint64_t seed) {
  FrameBytes f;
  f.width = clamp_int(integer(spec, "width"));
  f.height = clamp_int(integer(spec, "height"));
  f.stride = integer(spec, "stride");
  f.format = format_code(field(spec, "format"));
  f.bytes_per_pixel = bytes_per_pixel(f.format);
  f.data_null = boolean(spec, "data_null");
  const std::string fill = text(spec, "fill");

  int64_t size = 64;  // an invalid frame's buffer
  bool valid = f.width >= 1 && f.height >= 1;
  const int64_t packed = valid ? int64_t{f.width} * f.bytes_per_pixel : 0;
  const int64_t stride = f.stride == 0 ? packed : f.stride;
  if (valid && stride >= packed && (f.height == 1 || stride <= (kMaxFrameBytes - packed) / (f.height - 1)))
    size = (int64_t{f.height} - 1) * (f.height == 1 ? 0 : stride) + packed;
  else
    valid = false;
  if (size > kMaxFrameBytes) throw std::invalid_argument("corpus frame larger than the driver's 256 MiB");
  f.bytes.assign(static_cast<size_t>(size), 0);

  std::mt19937_64 rng(seed);
  if (fill == "zeros") return f;
  if (fill == "max") {
    std::memset(f.bytes.data(), 0xFF, f.bytes.size());
    return f;
  }
  if (fill == "random" || !valid) {
    for (uint8_t& b : f.bytes) b = static_cast<uint8_t>(rng());
    return f;
  }
  // "ramp" and "small": per pixel, row by row
  for (int y = 0; y < f.height; ++y)
    for (int x = 0; x < f.width; ++x) {
      uint8_t* p = f.bytes.data() + y * stride + int64_t{x} * f.bytes_per_pixel;
      const uint32_t i = static_cast<uint32_t>(y) * static_cast<uint32_t>(f.width) + static_cast<uint32_t>(x);
      if (f.bytes_per_pixel == 2) {
        const uint16_t v = fill == "small" ? static_cast<uint16_t>(rng() % 256) : static_cast<uint16_t>(i * 37u);
        std::memcpy(p, &v, 2);
      } else if (fill == "ramp") {
        std::memset(p, static_cast<int>(i & 0xFF), static_cast<size_t>(f.bytes_per_pixel));
      } else if (fill == "small") {
        std::memset(p, static_cast<int>(rng() % 256), static_cast<size_t>(f.bytes_per_pixel));
      } else {
        throw std::invalid_argument("corpus frame fill '" + fill + "' is unknown");
      }
    }
  return f;
}

}  // namespace fuzz
