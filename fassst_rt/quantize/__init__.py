"""INT8 models from exported float models (``fassst-rt quantize``).

- :mod:`.targets`      the two forms: ``cpu`` (U8 activations, S8 weights) and ``tensorrt``
  (symmetric S8, explicit quantization, opset 17)
- :mod:`.calibration`  real frames -> exactly the inputs the runtime feeds each graph
- :mod:`.layers`       the layers a quantization may keep in float, found by role
- :mod:`.graphs`       preparing, quantizing and checking graphs (onnx, onnxruntime.quantization)
- :mod:`.quantizer`    the command: both graphs, the metadata, atomic writes

The result is an ordinary model (NAME.onnx + NAME.tail.onnx) whose metadata
records its precision under ``precision``; ``Segmenter`` runs it like any other.
Needs the onnx package besides onnxruntime (``pip install fassst_rt[cpu,quantize]``).
"""

from .quantizer import DEFAULT_FRAMES, DEFAULT_INPUTS, DEFAULT_METHOD, DEFAULT_ROIS, quantize_model
from .targets import TARGETS, precision_of

__all__ = ["quantize_model", "precision_of", "TARGETS", "DEFAULT_FRAMES", "DEFAULT_INPUTS", "DEFAULT_ROIS",
           "DEFAULT_METHOD"]
