#include "core/frame_input.h"

#include "core/errors.h"
#include "core/input_mapping.h"

namespace fassst {
namespace {

// Rows at most 2 GiB apart: every offset into a frame (height < 2^31 rows)
// then stays far inside int64.
constexpr int64_t kMaxRowStride = int64_t{1} << 31;

int channels_of(PixelFormat f, const std::string& name) {
  switch (f) {
    case PixelFormat::kBGR:
    case PixelFormat::kRGB: return 3;
    case PixelFormat::kBGRA:
    case PixelFormat::kRGBA: return 4;
    case PixelFormat::kGray8:
    case PixelFormat::kGray16: return 1;
  }
  throw InvalidArgument(message(name, ".format must be a PixelFormat, got ", static_cast<int>(f)));
}

}  // namespace

Frame3 to_three_channels(const ImageView& image, const Uint16Mapping& uint16_rule, const std::string& name) {
  if (image.data == nullptr) throw InvalidArgument(message(name, ".data must not be null"));
  if (image.width < 1 || image.height < 1)
    throw InvalidArgument(message(name, " must be at least 1 x 1 pixels, got ", image.width, " x ", image.height));
  const int channels = channels_of(image.format, name);
  const int bpp = image.format == PixelFormat::kGray16 ? 2 : channels;
  const int64_t packed = static_cast<int64_t>(image.width) * bpp;
  const int64_t stride = image.stride == 0 ? packed : image.stride;
  if (stride < packed || stride > kMaxRowStride)
    throw InvalidArgument(message(name, ".stride must be 0 (packed) or in [width * ", bpp, " = ", packed, ", ",
                                  kMaxRowStride, "] bytes, got ", image.stride));
  if (image.format == PixelFormat::kGray16 && stride % 2 != 0)
    throw InvalidArgument(message(name, ".stride must be even for 16-bit frames (rows of uint16), got ", stride));
  if (image.format == PixelFormat::kGray16 && uint16_rule.kind.empty())
    throw InvalidArgument(message(name, ": this model defines no mapping for 16-bit frames; convert the frame "
                                  "to 8-bit first"));
  Frame3 f;
  f.height = image.height;
  f.width = image.width;
  const auto* src = static_cast<const uint8_t*>(image.data);
  if (channels == 3) {
    f.data = src;
    f.stride = stride;
    f.bgr = image.format == PixelFormat::kBGR;
    return f;
  }
  const int64_t n = static_cast<int64_t>(image.width) * image.height;
  f.storage.resize(static_cast<size_t>(n) * 3);
  f.stride = static_cast<int64_t>(image.width) * 3;
  f.bgr = image.format != PixelFormat::kRGBA;  // grey: either order gives the same pixels
  std::vector<uint8_t> grey;
  const uint8_t* grey_rows = nullptr;
  int64_t grey_stride = stride;
  if (image.format == PixelFormat::kGray16) {
    grey.resize(static_cast<size_t>(n));
    map_uint16_to_uint8(static_cast<const uint16_t*>(image.data), image.height, image.width, stride, uint16_rule,
                        grey.data());
    grey_rows = grey.data();
    grey_stride = image.width;
  } else if (image.format == PixelFormat::kGray8) {
    grey_rows = src;
  }
  // Locals, not f's fields: a uint8 store may alias anything, so fields
  // would be reloaded on every pixel.
  const int height = image.height, width = image.width;
  const int64_t out_stride = f.stride;
  uint8_t* const storage = f.storage.data();
  for (int y = 0; y < height; ++y) {
    uint8_t* __restrict out = storage + y * out_stride;
    if (grey_rows != nullptr) {
      const uint8_t* __restrict row = grey_rows + y * grey_stride;
      for (int x = 0; x < width; ++x) out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = row[x];
    } else {  // 4 channels: alpha dropped
      const uint8_t* __restrict row = src + y * stride;
      for (int x = 0; x < width; ++x)
        for (int c = 0; c < 3; ++c) out[3 * x + c] = row[4 * x + c];
    }
  }
  f.data = f.storage.data();
  return f;
}

}  // namespace fassst
