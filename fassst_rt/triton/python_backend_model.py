"""Triton Python backend model: fassst_rt's Segmenter (written by
`fassst-rt export-triton`; docs/triton.md).

Needs fassst_rt (with onnxruntime, or TensorRT for a .plan model) installed in
the Python environment the Python backend runs; the model files and
fassst_serving.json lie beside this file. Inputs and outputs:
fassst_rt.triton.served."""

import json

from fassst_rt.triton.served import INPUT, OUTPUT, ServedSegmenter


class TritonPythonModel:
    def initialize(self, args):
        import os
        folder = os.path.join(args["model_repository"], args["model_version"])
        # a KIND_GPU instance runs on the GPU Triton gives it
        gpu = int(args.get("model_instance_device_id", 0)) if args.get("model_instance_kind") == "GPU" else None
        self.served = ServedSegmenter.from_folder(folder, gpu)
        self.config = json.loads(args["model_config"]) if "model_config" in args else {}

    def execute(self, requests):
        import triton_python_backend_utils as pb_utils  # provided by Triton's Python backend only
        responses = []
        for request in requests:
            try:
                images = pb_utils.get_input_tensor_by_name(request, INPUT).as_numpy()
                out = pb_utils.Tensor(OUTPUT, self.served.infer(images))
                responses.append(pb_utils.InferenceResponse(output_tensors=[out]))
            except Exception as exc:  # this request fails; the others in the batch are answered
                responses.append(pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(
                    "fassst_rt: {}".format(exc))))
        return responses

    def finalize(self):
        self.served.close()
