#include "fassst/instances.h"

#include "core/errors.h"
#include "core/paste.h"

namespace fassst {
namespace {

void check_index(const Instances& inst, size_t i) {
  if (i >= inst.size())
    throw InvalidArgument(message("Instances: index must be < ", inst.size(), " (the instance count), got ", i));
}

void label_image_of(const Instances& inst, float threshold, int32_t* out) {
  label_image(inst.box_masks.data(), inst.mask_boxes.data(), static_cast<int64_t>(inst.size()), inst.mask_size,
              inst.image_height, inst.image_width, threshold, out);
}

}  // namespace

const std::string& Instances::class_name(size_t i) const {
  check_index(*this, i);
  const int64_t label = labels[i];
  if (label < 0 || label >= static_cast<int64_t>(names.size()))
    throw InvalidArgument(message("Instances: label ", label, " of instance ", i, " has no name (",
                                  names.size(), " class names)"));
  return names[static_cast<size_t>(label)];
}

void Instances::paste_mask(size_t i, uint8_t* out, float threshold) const {
  check_index(*this, i);
  const int64_t area = static_cast<int64_t>(mask_size) * mask_size;
  paste_masks(box_masks.data() + i * area, mask_boxes.data() + i * 4, 1, mask_size, image_height,
              image_width, threshold, out, 1);
}

std::vector<uint8_t> Instances::mask(size_t i, float threshold) const {
  std::vector<uint8_t> out(static_cast<size_t>(image_height) * image_width);
  paste_mask(i, out.data(), threshold);
  return out;
}

std::vector<int32_t> Instances::label_image(float threshold) const {
  std::vector<int32_t> out(static_cast<size_t>(image_height) * image_width);
  label_image_of(*this, threshold, out.data());
  return out;
}

std::vector<uint8_t> Instances::masks(float threshold, int num_threads) const {
  const size_t frame = static_cast<size_t>(image_height) * image_width;
  std::vector<uint8_t> out(size() * frame);  // zeros already: the paste writes the boxes only
  if (!empty())
    paste_masks(box_masks.data(), mask_boxes.data(), static_cast<int64_t>(size()), mask_size, image_height,
                image_width, threshold, out.data(), num_threads, /*out_zeroed=*/true);
  return out;
}

}  // namespace fassst
