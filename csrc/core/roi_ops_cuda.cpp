#include "core/roi_ops_cuda.h"

#include <vector>

#include "core/cuda_device.h"
#include "core/errors.h"
#include "core/roi_ops.h"
#include "kernels/roi/roi_cuda.h"

namespace fassst {
namespace {

// Device rows are copied to the host to be checked (a K x 20-byte copy and one
// stream synchronisation: the price of never launching on bad boxes).
void check_rois(const char* op, const float* rois, int64_t k, int64_t batch, cudaStream_t stream,
                const RoiCheck& check) {
  if (!check.validate) return;
  if (check.host_rois != nullptr) {
    validate_rois(op, check.host_rois, k, batch);
    return;
  }
  std::vector<float> host(static_cast<size_t>(k) * 5);
  cuda::copy_to_host_sync(host.data(), rois, host.size() * sizeof(float), stream);
  validate_rois(op, host.data(), k, batch);
}

}  // namespace

void roi_crop_cuda_checked(roi::DType dtype, const void* feature, const roi::FeatureShape& shape,
                           const float* rois, int64_t num_rois, int out_size, float stride, void* out,
                           cudaStream_t stream, const RoiCheck& check) {
  const roi::CropParams p = make_crop_params("roi_crop", shape, out_size, stride);
  if (num_rois < 0) throw InvalidArgument(message("roi_crop: num_rois must be >= 0, got ", num_rois));
  if (num_rois == 0) return;
  cuda::require_device_pointer("feature", feature);
  cuda::require_device_pointer("rois", rois);
  cuda::require_device_pointer("out", out);
  check_rois("roi_crop", rois, num_rois, p.feature.batch, stream, check);
  cuda::check(roi::roi_crop_cuda(dtype, feature, p, rois, num_rois, out, stream), "roi_crop kernel launch");
}

void roi_fuse_cuda_checked(roi::DType dtype, const void* const maps[3], const roi::FeatureShape levels[3],
                           const float* rois, int64_t num_rois, int out_size, const float strides[3], void* out,
                           cudaStream_t stream, const RoiCheck& check) {
  const roi::FuseParams p = make_fuse_params("roi_fuse", levels, out_size, strides);
  if (num_rois < 0) throw InvalidArgument(message("roi_fuse: num_rois must be >= 0, got ", num_rois));
  if (num_rois == 0) return;
  const char* names[3] = {"p1", "p2", "p3"};
  for (int l = 0; l < 3; ++l) cuda::require_device_pointer(names[l], maps[l]);
  cuda::require_device_pointer("rois", rois);
  cuda::require_device_pointer("out", out);
  check_rois("roi_fuse", rois, num_rois, levels[0].batch, stream, check);
  cuda::check(roi::roi_fuse_cuda(dtype, maps[0], maps[1], maps[2], p, rois, num_rois, out, stream),
              "roi_fuse kernel launch");
}

}  // namespace fassst
