// TensorRT backend (NAME.plan + NAME.tail.plan + NAME.plan.json), through
// TensorRT's name-based tensor API (setInputShape, setTensorAddress,
// enqueueV3: TensorRT 8.5, 8.6, 10.x, 11.x). It mirrors the Python TensorRT backend:
// the pyramid stays on the GPU, the CUDA ROI kernel fuses it straight into the
// tail engine's input buffer, and only boxes, scores and mask logits come back
// to the host.
//
// NOT COMPILED IN THIS PROJECT'S CI: TensorRT headers cannot be obtained
// there. CMake compiles this file only where NvInfer.h, libnvinfer and a CUDA
// build of the kernels are found (docs/cpp_api.md).
#include <NvInfer.h>
#include <cuda_runtime_api.h>

#include <sstream>
#include <type_traits>

#include "api/tensorrt_version.h"

#include "core/cuda_device.h"
#include "core/errors.h"
#include "core/json.h"
#include "core/model_file.h"
#include "core/metadata_document.h"
#include "core/roi_ops_cuda.h"
#include "fassst/backend.h"

namespace fassst {
namespace {

// TensorRT keeps one logger per process: the first one passed to a runtime
// is used from then on, also for runtimes made later with another logger,
// and may be called after those are gone. So there is one, never destroyed,
// and it files each error under the thread that logged it (TensorRT logs on
// the calling thread): a backend reads the errors of its own calls.
class Logger : public nvinfer1::ILogger {
 public:
  void log(Severity severity, const char* msg) noexcept override {
    if (severity <= Severity::kERROR) {
      try {
        last_error_slot() = msg;
      } catch (...) {  // noexcept: an allocation failure loses the message
      }
    }
  }
  // The last error this thread's TensorRT calls logged (since clear()).
  static std::string last_error() { return last_error_slot(); }
  static void clear() { last_error_slot().clear(); }

 private:
  static std::string& last_error_slot() {
    thread_local std::string text;
    return text;
  }
};

Logger& process_logger() {
  static Logger* logger = new Logger();  // never destroyed: TensorRT may log at exit
  return *logger;
}


std::string strip_suffix(const std::string& path, const std::string& suffix) {
  return path.size() > suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0
             ? path.substr(0, path.size() - suffix.size())
             : path;
}

// A device buffer that grows to the largest size asked for.
struct Growing {
  std::unique_ptr<cuda::DeviceBuffer> buf;
  void* get(size_t bytes) {
    if (!buf || buf->size() < bytes) {
      buf.reset();
      buf.reset(new cuda::DeviceBuffer(bytes));
    }
    return buf->data();
  }
};

struct Engine {
  std::unique_ptr<nvinfer1::ICudaEngine> engine;
  std::unique_ptr<nvinfer1::IExecutionContext> context;
};

class TensorRTBackend : public Backend {
 public:
  TensorRTBackend(const std::string& path, const BackendOptions& options) : path_(path) {
    if (options.device == "cpu") throw InvalidArgument("device 'cpu' cannot run a TensorRT engine (.plan)");
    const std::string root = strip_suffix(path, ".plan");
    tail_path_ = root + ".tail.plan";
    const std::string json_path = path + ".json";
    const json::Value doc = json::parse(read_model_file(json_path, "sidecar (NAME.plan.json)"), json_path);
    // The layout `fassst-rt build` writes (fassst_rt/backends/trt_plan.py).
    const json::Value* format = doc.is_object() ? doc.find("format") : nullptr;
    if (!format || !format->is_string() || format->as_string() != "fassst-tensorrt")
      throw ModelError(message(json_path, ": not a sidecar written by `fassst-rt build` (expected \"format\": "
                               "\"fassst-tensorrt\")"));
    const json::Value* embedded = doc.find("fassst");
    if (!embedded) throw ModelError(message(json_path, ": has no \"fassst\" metadata document"));
    meta_ = metadata_from_document(*embedded, json_path + " [fassst]");
    // Its engines are built for (B, 3, S, S); a stride grid needs an optimisation profile over H, W.
    if (meta_.stride_grid)
      throw ModelError(message(json_path, ": a stride-grid model (metadata grid.kind 'stride') does not run on "
                               "TensorRT yet; run it with the ONNX Runtime backend"));
    // Constructing a TensorRT runtime where no GPU exists can take the process
    // down: ask the CUDA runtime first.
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0)
      throw CudaError(message(path, ": cannot run TensorRT engines: no usable CUDA device"));
    check_build_target(doc, json_path);
    Logger::clear();
    runtime_.reset(nvinfer1::createInferRuntime(process_logger()));
    if (!runtime_) throw BackendError("TensorRT: createInferRuntime failed: " + Logger::last_error());
    frame_ = load(path_, "frame engine");
    tail_ = load(tail_path_, "tail engine");
    max_frame_batch_ = profile_max_batch(frame_, "images");
    max_tail_batch_ = profile_max_batch(tail_, "rois");
    cuda::check(cudaStreamCreate(&stream_), "cudaStreamCreate");
  }

  ~TensorRTBackend() override {
    if (stream_) cudaStreamDestroy(stream_);
  }

  std::string name() const override { return "tensorrt"; }
  // The optimisation profiles' maximum batches: the Segmenter splits its
  // calls to fit them.
  int64_t max_frame_batch() const override { return max_frame_batch_; }
  int64_t max_tail_batch() const override { return max_tail_batch_; }
  const ModelMetadata& metadata() const override { return meta_; }

  FrameOutputs run_frame(const float* images, int64_t batch) override {
    const int64_t s = meta_.input_size;
    const size_t in_bytes = static_cast<size_t>(batch * 3 * s * s) * sizeof(float);
    void* d_in = input_.get(in_bytes);
    cuda::check(cudaMemcpyAsync(d_in, images, in_bytes, cudaMemcpyHostToDevice, stream_), "copy images");
    nvinfer1::IExecutionContext& ctx = *frame_.context;
    set_input(ctx, "images", {batch, 3, s, s}, d_in);
    FrameOutputs out;
    Tensor* slots[5] = {&out.boxes, &out.scores, &out.p1, &out.p2, &out.p3};
    const char* names[5] = {"boxes", "scores", "p1", "p2", "p3"};
    for (int i = 0; i < 5; ++i) {
      const nvinfer1::Dims d = ctx.getTensorShape(names[i]);
      slots[i]->shape.assign(d.d, d.d + d.nbDims);
      slots[i]->data = static_cast<const float*>(outputs_[i].get(slots[i]->numel() * sizeof(float)));
      slots[i]->on_device = true;
      if (!ctx.setTensorAddress(names[i], const_cast<float*>(slots[i]->data)))
        throw BackendError(message(path_, ": setTensorAddress('", names[i], "') failed: ", Logger::last_error()));
    }
    if (!ctx.enqueueV3(stream_)) throw BackendError(message(path_, ": enqueueV3 failed: ", Logger::last_error()));
    // boxes and scores go to the host for the selection; the pyramid stays.
    for (int i = 0; i < 2; ++i) {
      auto host = std::make_shared<std::vector<float>>(slots[i]->numel());
      cuda::check(cudaMemcpyAsync(host->data(), slots[i]->data, host->size() * sizeof(float), cudaMemcpyDeviceToHost,
                                  stream_),
                  "copy frame outputs");
      slots[i]->data = host->data();
      slots[i]->on_device = false;
      slots[i]->owner = host;
    }
    cuda::check(cudaStreamSynchronize(stream_), "frame engine");
    return out;  // p1..p3: device buffers of this backend, valid until the next run_frame
  }

  void run_tail(const float* features, int64_t count, float* logits) override {
    const size_t bytes = static_cast<size_t>(count * meta_.mask_channels * meta_.roi_size * meta_.roi_size) * sizeof(float);
    void* d = features_.get(bytes);
    cuda::check(cudaMemcpyAsync(d, features, bytes, cudaMemcpyHostToDevice, stream_), "copy rois");
    tail_on_device(d, count, logits);
  }

  void fuse_and_tail(const FrameOutputs& frame, const float* rois, int64_t count, float* logits) override {
    if (!frame.p1.on_device) {  // not ours: the CPU path
      Backend::fuse_and_tail(frame, rois, count, logits);
      return;
    }
    const Tensor* levels[3] = {&frame.p1, &frame.p2, &frame.p3};
    roi::FeatureShape shapes[3];
    for (int l = 0; l < 3; ++l)
      shapes[l] = roi::FeatureShape{levels[l]->shape[0], levels[l]->shape[1], static_cast<int>(levels[l]->shape[2]),
                                    static_cast<int>(levels[l]->shape[3])};
    const size_t roi_bytes = static_cast<size_t>(count) * 5 * sizeof(float);
    void* d_rois = rois_.get(roi_bytes);
    cuda::check(cudaMemcpyAsync(d_rois, rois, roi_bytes, cudaMemcpyHostToDevice, stream_), "copy rois");
    const int s1 = meta_.roi_size;
    void* d_features = features_.get(static_cast<size_t>(count * meta_.mask_channels * s1 * s1) * sizeof(float));
    RoiCheck check;
    check.host_rois = rois;  // the rows are checked on the host before any launch
    if (meta_.rff) {
      const void* maps[3] = {frame.p1.data, frame.p2.data, frame.p3.data};
      roi_fuse_cuda_checked(roi::DType::kFloat32, maps, shapes, static_cast<const float*>(d_rois), count, s1,
                            meta_.strides.data(), d_features, stream_, check);
    } else {
      roi_crop_cuda_checked(roi::DType::kFloat32, frame.p1.data, shapes[0], static_cast<const float*>(d_rois),
                            count, s1, meta_.strides[0], d_features, stream_, check);
    }
    tail_on_device(d_features, count, logits);
  }

 private:
  Engine load(const std::string& path, const char* what) {
    const std::string blob = read_model_file(path, what);
    Logger::clear();
    Engine e;
    e.engine.reset(runtime_->deserializeCudaEngine(blob.data(), blob.size()));
    if (!e.engine)
      throw ModelError(message(path, ": TensorRT cannot deserialize this ", what, " (", Logger::last_error(),
                               "); engines are tied to the TensorRT version and GPU they were built with: rebuild "
                               "it with `fassst-rt build` on this device"));
    e.context.reset(e.engine->createExecutionContext());
    if (!e.context) throw BackendError(message(path, ": createExecutionContext failed: ", Logger::last_error()));
    for (int i = 0; i < e.engine->getNbIOTensors(); ++i) {
      const char* n = e.engine->getIOTensorName(i);
      if (e.engine->getTensorDataType(n) != nvinfer1::DataType::kFLOAT)
        throw ModelError(message(path, ": tensor '", n, "' is not float32; this backend expects float32 I/O"));
    }
    return e;
  }

  // The engines are tied to a TensorRT version and a GPU architecture: say so
  // plainly instead of failing inside deserialisation.
  void check_build_target(const json::Value& doc, const std::string& json_path) {
    const json::Value* trt = doc.find("tensorrt_version");
    // The library loaded at run time, not the headers compiled against: an
    // application built with one TensorRT may run with another's libnvinfer.
    const trt_version::Version loaded = trt_version::decode(getInferLibVersion());
    const bool same = trt && trt->is_string() && trt_version::same_release(trt->as_string(), loaded);
    if (!same)
      throw ModelError(message(json_path, ": the engines were built with TensorRT ",
                               trt && trt->is_string() ? trt->as_string() : std::string("(not recorded)"),
                               ", this process runs TensorRT ", trt_version::to_string(loaded),
                               "; rebuild them with `fassst-rt build`"));
    const json::Value* cc = doc.find("compute_capability");
    int device = 0;
    cuda::check(cudaGetDevice(&device), "cudaGetDevice");
    cudaDeviceProp prop;
    cuda::check(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
    const std::string gpu = std::to_string(prop.major) + "." + std::to_string(prop.minor);
    // written as [major, minor]
    std::string built = "(not recorded)";
    if (cc && cc->is_array() && cc->as_array().size() == 2 && cc->as_array()[0].is_integer() &&
        cc->as_array()[1].is_integer())
      built = std::to_string(static_cast<int>(cc->as_array()[0].as_number())) + "." +
              std::to_string(static_cast<int>(cc->as_array()[1].as_number()));
    if (built != gpu)
      throw ModelError(message(json_path, ": the engines were built for compute capability ", built,
                               ", this GPU (", prop.name, ") is ", gpu, "; rebuild them on this device"));
  }

  void set_input(nvinfer1::IExecutionContext& ctx, const char* name, std::vector<int64_t> shape, void* ptr) {
    nvinfer1::Dims d;
    d.nbDims = static_cast<int>(shape.size());
    for (size_t i = 0; i < shape.size(); ++i) d.d[i] = static_cast<std::remove_reference<decltype(d.d[0])>::type>(shape[i]);  // int32 in 8.x, int64 in 10.x
    if (!ctx.setInputShape(name, d) || !ctx.setTensorAddress(name, ptr))
      throw BackendError(message(path_, ": input '", name, "' refused (outside the engine's optimisation profile?): ",
                                 Logger::last_error()));
  }

  void tail_on_device(void* d_features, int64_t count, float* logits) {
    const int64_t s1 = meta_.roi_size;
    nvinfer1::IExecutionContext& ctx = *tail_.context;
    set_input(ctx, "rois", {count, meta_.mask_channels, s1, s1}, d_features);
    const size_t out_bytes = static_cast<size_t>(count * 4 * s1 * s1) * sizeof(float);
    void* d_logits = logits_.get(out_bytes);
    if (!ctx.setTensorAddress("masks", d_logits))
      throw BackendError(message(tail_path_, ": setTensorAddress('masks') failed: ", Logger::last_error()));
    if (!ctx.enqueueV3(stream_)) throw BackendError(message(tail_path_, ": enqueueV3 failed: ", Logger::last_error()));
    cuda::check(cudaMemcpyAsync(logits, d_logits, out_bytes, cudaMemcpyDeviceToHost, stream_), "copy mask logits");
    cuda::check(cudaStreamSynchronize(stream_), "tail engine");
  }

  int64_t profile_max_batch(const Engine& e, const char* input) const {
    const nvinfer1::Dims d = e.engine->getProfileShape(input, 0, nvinfer1::OptProfileSelector::kMAX);
    if (d.nbDims < 1 || d.d[0] < 1)
      throw ModelError(message(path_, ": the engine's profile gives input '", input, "' no maximum batch"));
    return static_cast<int64_t>(d.d[0]);
  }

  std::string path_, tail_path_;
  int64_t max_frame_batch_ = 0, max_tail_batch_ = 0;
  ModelMetadata meta_;
  std::unique_ptr<nvinfer1::IRuntime> runtime_;
  Engine frame_, tail_;
  cudaStream_t stream_ = nullptr;
  Growing input_, outputs_[5], rois_, features_, logits_;
};

}  // namespace

bool has_tensorrt_backend() { return true; }

std::unique_ptr<Backend> open_tensorrt_backend(const std::string& path, const BackendOptions& options) {
  return std::unique_ptr<Backend>(new TensorRTBackend(path, options));
}

}  // namespace fassst
