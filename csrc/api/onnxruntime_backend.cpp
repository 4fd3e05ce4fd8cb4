// ONNX Runtime backend through its C++ API: NAME.onnx (frame graph, carrying
// the metadata) and NAME.tail.onnx (tail graph) beside it. The C++ twin of
// fassst_rt/backends/onnxruntime_backend.py: same files, same checks, same
// session settings, so both runtimes get the same graph outputs.
#include <onnxruntime_cxx_api.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include "core/errors.h"
#include "core/model_file.h"
#include "core/sha256.h"
#include "core/thread_count.h"
#include "fassst/backend.h"

namespace fassst {
namespace {

const char* const kFrameInput = "images";
const char* const kFrameOutputs[5] = {"boxes", "scores", "p1", "p2", "p3"};
const char* const kTailInput = "rois";
const char* const kTailOutput = "masks";

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// NAME.onnx -> NAME.tail.onnx
std::string tail_path_for(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return path + ".tail";
  return path.substr(0, dot) + ".tail" + path.substr(dot);
}


// One environment per process, as ONNX Runtime recommends (it owns the
// logging manager and the global thread pools).
Ort::Env& environment() {
  static Ort::Env env(ORT_LOGGING_LEVEL_WARNING, "fassst_rt");
  return env;
}

std::string shape_text(const std::vector<int64_t>& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + (s[i] < 0 ? std::string("?") : std::to_string(s[i]));
  return out + ")";
}

// A static dimension that disagrees with the expected one (-1: any).
bool dims_conflict(const std::vector<int64_t>& got, const std::vector<int64_t>& want) {
  if (got.size() != want.size()) return true;
  for (size_t i = 0; i < got.size(); ++i)
    if (got[i] >= 0 && want[i] >= 0 && got[i] != want[i]) return true;
  return false;
}

class OnnxRuntimeBackend : public Backend {
 public:
  OnnxRuntimeBackend(const std::string& path, const BackendOptions& options)
      : path_(path), tail_path_(tail_path_for(path)) {
    if (ends_with(path_, ".portable.onnx"))
      throw ModelError(path_ + ": a portable single-graph export runs in ONNX Runtime (or another runtime) "
                               "directly, not in a Segmenter: see docs/portable.md; give the Segmenter the "
                               "two-graph NAME.onnx");
    // Read here (regular files of model size only), hashed from the bytes
    // the session is made of.
    const std::string frame_bytes = read_model_file(path_, "frame graph");
    const std::string tail_bytes = read_model_file(tail_path_, "tail graph");
    cpu_threads_ = checked_num_threads("num_threads", options.num_threads);
    Ort::SessionOptions so;
    so.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
    if (options.num_threads > 0) {
      so.SetIntraOpNumThreads(options.num_threads);
      so.SetInterOpNumThreads(1);
    }
    providers_ = choose_providers(options.device);
    if (providers_.front() == "CUDAExecutionProvider") {
      OrtCUDAProviderOptions cuda{};
      so.AppendExecutionProvider_CUDA(cuda);
    }
    frame_ = open_session(path_, frame_bytes, so);
    meta_ = read_metadata();
    const std::string actual = sha256_bytes(tail_bytes);
    if (!meta_.tail_sha256.empty() && actual != meta_.tail_sha256)
      throw ModelError(message(tail_path_, ": does not belong to ", path_, ": its sha256 is ", actual,
                               " but the frame graph's metadata names ", meta_.tail_sha256,
                               "; export the two files together"));
    tail_ = open_session(tail_path_, tail_bytes, so);
    check_io();
  }

  std::string name() const override { return "onnxruntime"; }
  // Outputs are owned host tensors and ONNX Runtime sessions may run concurrently.
  bool overlaps_graphs() const override { return true; }
  const ModelMetadata& metadata() const override { return meta_; }

  FrameOutputs run_frame(const float* images, int64_t batch) override {
    return run_frame(images, batch, meta_.input_size, meta_.input_size);
  }

  // Any (B, 3, H, W): a stride-grid model's graph has dynamic H and W.
  FrameOutputs run_frame(const float* images, int64_t batch, int64_t height, int64_t width) override {
    const std::vector<int64_t> shape = {batch, 3, height, width};
    Ort::MemoryInfo mem = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
    // ONNX Runtime reads the input; the const_cast only satisfies its C signature.
    Ort::Value input = Ort::Value::CreateTensor<float>(mem, const_cast<float*>(images),
                                                       static_cast<size_t>(batch * 3 * height * width), shape.data(),
                                                       shape.size());
    auto outputs = std::make_shared<std::vector<Ort::Value>>();
    try {
      *outputs = frame_->Run(Ort::RunOptions{nullptr}, &kFrameInput, &input, 1, kFrameOutputs, 5);
    } catch (const Ort::Exception& e) {
      throw BackendError(message(path_, ": ONNX Runtime failed to run the frame graph: ", e.what()));
    }
    Tensor* slots[5];
    FrameOutputs out;
    slots[0] = &out.boxes;
    slots[1] = &out.scores;
    slots[2] = &out.p1;
    slots[3] = &out.p2;
    slots[4] = &out.p3;
    for (int i = 0; i < 5; ++i) {
      Ort::Value& v = (*outputs)[i];
      auto info = v.GetTensorTypeAndShapeInfo();
      if (info.GetElementType() != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT)
        throw ModelError(message(path_, ": output '", kFrameOutputs[i], "' must be float32"));
      slots[i]->shape = info.GetShape();
      slots[i]->data = v.GetTensorData<float>();
      slots[i]->owner = outputs;  // keeps every output of this run alive
    }
    return out;
  }

  void run_tail(const float* features, int64_t count, float* logits) override {
    const int64_t s1 = meta_.roi_size, m = meta_.mask_channels;
    const std::vector<int64_t> shape = {count, m, s1, s1};
    Ort::MemoryInfo mem = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
    Ort::Value input = Ort::Value::CreateTensor<float>(mem, const_cast<float*>(features),
                                                       static_cast<size_t>(count * m * s1 * s1), shape.data(),
                                                       shape.size());
    std::vector<Ort::Value> outputs;
    try {
      outputs = tail_->Run(Ort::RunOptions{nullptr}, &kTailInput, &input, 1, &kTailOutput, 1);
    } catch (const Ort::Exception& e) {
      throw BackendError(message(tail_path_, ": ONNX Runtime failed to run the tail graph: ", e.what()));
    }
    auto info = outputs[0].GetTensorTypeAndShapeInfo();
    const std::vector<int64_t> want = {count, 1, 2 * s1, 2 * s1};
    if (info.GetElementType() != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT || info.GetShape() != want)
      throw ModelError(message(tail_path_, ": the tail graph's 'masks' has shape ", shape_text(info.GetShape()),
                               ", expected float32 ", shape_text(want)));
    const float* src = outputs[0].GetTensorData<float>();
    std::copy(src, src + count * 4 * s1 * s1, logits);
  }

 private:
  static std::vector<std::string> choose_providers(const std::string& device) {
    std::vector<std::string> available = Ort::GetAvailableProviders();
    const bool has_cuda =
        std::find(available.begin(), available.end(), "CUDAExecutionProvider") != available.end();
    if (device == "cpu") return {"CPUExecutionProvider"};
    if (device == "cuda") {
      if (!has_cuda) {
        std::string list;
        for (const auto& p : available) list += (list.empty() ? "" : ", ") + p;
        throw ModelError("device='cuda' but this ONNX Runtime has no CUDA execution provider (available: " + list +
                         ")");
      }
      return {"CUDAExecutionProvider", "CPUExecutionProvider"};
    }
    if (device == "auto")
      return has_cuda ? std::vector<std::string>{"CUDAExecutionProvider", "CPUExecutionProvider"}
                      : std::vector<std::string>{"CPUExecutionProvider"};
    throw InvalidArgument("device must be 'auto', 'cpu' or 'cuda' for ONNX Runtime, got '" + device + "'");
  }

  std::unique_ptr<Ort::Session> open_session(const std::string& path, const std::string& bytes,
                                             const Ort::SessionOptions& so) {
    try {
      return std::unique_ptr<Ort::Session>(new Ort::Session(environment(), bytes.data(), bytes.size(), so));
    } catch (const Ort::Exception& e) {
      std::string what = e.what();
      what = what.substr(0, what.find('\n'));
      throw ModelError(message(path, ": ONNX Runtime cannot load it (", what, ")"));
    }
  }

  ModelMetadata read_metadata() {
    Ort::AllocatorWithDefaultOptions alloc;
    Ort::ModelMetadata mm = frame_->GetModelMetadata();
    Ort::AllocatedStringPtr doc = mm.LookupCustomMetadataMapAllocated(ModelMetadata::kKey, alloc);
    if (!doc)
      throw MetadataError(message(path_, ": has no '", ModelMetadata::kKey,
                                  "' metadata; export models with `fassst-rt export`"));
    return ModelMetadata::from_json(doc.get(), path_);
  }

  static std::vector<std::string> names(Ort::Session& s, bool inputs) {
    Ort::AllocatorWithDefaultOptions alloc;
    std::vector<std::string> out;
    const size_t n = inputs ? s.GetInputCount() : s.GetOutputCount();
    for (size_t i = 0; i < n; ++i)
      out.emplace_back(inputs ? s.GetInputNameAllocated(i, alloc).get() : s.GetOutputNameAllocated(i, alloc).get());
    return out;
  }

  static std::string joined(const std::vector<std::string>& v) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) out += (i ? ", '" : "'") + v[i] + "'";
    return out + "]";
  }

  std::vector<int64_t> output_shape(Ort::Session& s, const std::vector<std::string>& outs, const char* name) {
    const size_t i = std::find(outs.begin(), outs.end(), name) - outs.begin();
    return s.GetOutputTypeInfo(i).GetTensorTypeAndShapeInfo().GetShape();
  }

  void check_io() {
    const std::vector<std::string> ins = names(*frame_, true), outs = names(*frame_, false);
    bool ok = std::find(ins.begin(), ins.end(), kFrameInput) != ins.end();
    for (const char* o : kFrameOutputs) ok = ok && std::find(outs.begin(), outs.end(), o) != outs.end();
    if (!ok)
      throw ModelError(message(path_, ": the frame graph must have input '", kFrameInput,
                               "' and outputs ['boxes', 'scores', 'p1', 'p2', 'p3'], has ", joined(ins), " -> ",
                               joined(outs)));
    const size_t input_index = std::find(ins.begin(), ins.end(), kFrameInput) - ins.begin();
    const std::vector<int64_t> input = frame_->GetInputTypeInfo(input_index).GetTensorTypeAndShapeInfo().GetShape();
    const int64_t side = meta_.stride_grid ? -1 : meta_.input_size;  // a stride grid: dynamic H, W
    if (dims_conflict(input, {-1, 3, side, side}))
      throw ModelError(message(path_, ": input '", kFrameInput, "' has shape ", shape_text(input),
                               meta_.stride_grid ? std::string(", but a stride-grid model takes (B, 3, H, W)")
                                                 : message(", but the metadata says input_size = ", side, ": (B, 3, ",
                                                           side, ", ", side, ")")));
    const int64_t n = meta_.stride_grid ? -1 : meta_.num_cells(), c = meta_.num_classes();
    const std::vector<int64_t> boxes = output_shape(*frame_, outs, "boxes"), scores = output_shape(*frame_, outs, "scores");
    if (dims_conflict(boxes, {-1, n, 4}))
      throw ModelError(message(path_, ": output 'boxes' has shape ", shape_text(boxes), ", but the metadata says (B, ",
                               n, ", 4)"));
    if (dims_conflict(scores, {-1, n, c}))
      throw ModelError(message(path_, ": output 'scores' has shape ", shape_text(scores),
                               ", but the metadata says (B, ", n, ", ", c, ")"));
    const std::vector<int64_t> p1 = output_shape(*frame_, outs, "p1");
    if (p1.size() == 4 && p1[1] >= 0 && p1[1] != meta_.mask_channels)
      throw ModelError(message(path_, ": p1 has ", p1[1], " channels, the metadata says mask_channels = ",
                               meta_.mask_channels));
    const std::vector<std::string> tin = names(*tail_, true), tout = names(*tail_, false);
    if (tin != std::vector<std::string>{kTailInput} || std::find(tout.begin(), tout.end(), kTailOutput) == tout.end())
      throw ModelError(message(tail_path_, ": the tail graph must map input '", kTailInput, "' to output '",
                               kTailOutput, "'"));
    const std::vector<int64_t> shape = tail_->GetInputTypeInfo(0).GetTensorTypeAndShapeInfo().GetShape();
    if (dims_conflict(shape, {-1, meta_.mask_channels, meta_.roi_size, meta_.roi_size}))
      throw ModelError(message(tail_path_, ": tail input has shape ", shape_text(shape), ", the metadata says (K, ",
                               meta_.mask_channels, ", ", meta_.roi_size, ", ", meta_.roi_size, ")"));
  }

  std::string path_, tail_path_;
  std::vector<std::string> providers_;
  std::unique_ptr<Ort::Session> frame_, tail_;
  ModelMetadata meta_;
};

}  // namespace

std::unique_ptr<Backend> open_onnxruntime_backend(const std::string& path, const BackendOptions& options) {
  try {
    return std::unique_ptr<Backend>(new OnnxRuntimeBackend(path, options));
  } catch (const Error&) {
    throw;
  } catch (const Ort::Exception& e) {
    throw BackendError(message(path, ": ONNX Runtime: ", e.what()));
  }
}

}  // namespace fassst
