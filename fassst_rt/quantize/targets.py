"""The two INT8 forms ``fassst-rt quantize`` makes, as settings of ONNX
Runtime's static QDQ quantization.

- ``cpu``: unsigned 8-bit activations (asymmetric, zero point anywhere),
  signed 8-bit per-channel weights: the U8S8 form ONNX Runtime's CPU kernels
  run fastest (VNNI / AVX-512 / AVX2 integer dot products), with QDQ pairs
  around every operator ONNX Runtime can run in 8 bits, so that it fuses
  them into QLinearConv and friends.
- ``tensorrt``: signed 8-bit activations and weights, both symmetric (zero
  point 0), per-channel weights, Q/DQ only on the inputs of the weighted
  layers (Conv, ConvTranspose, MatMul): the explicit quantization TensorRT
  8.5 to 11 accepts, which fuses and propagates the scales itself. Opset 17,
  the newest TensorRT 8.5 (JetPack 5) parses.

Which layers stay in float is decided per form (roles: fassst_rt/quantize/
layers.py), from the shipped model's mask AP on the validation frames with
each role kept in float in turn (tools/quantize_sensitivity.py; the numbers
are in docs/quantization.md): the box decoding always (8 bits would round
box coordinates); for ``tensorrt`` also the first convolution and the IAM's
last one, which brought its loss from about 1 AP to under 0.5 on both
classes; ``cpu`` loses nothing measurable without them.
"""

from typing import Any, Dict, NamedTuple, Optional, Tuple


class Target(NamedTuple):
    name: str
    activations: str            # "uint8" or "int8"
    weights: str                # "int8"
    symmetric_activations: bool
    op_types: Tuple[str, ...]   # operators given Q/DQ on their inputs; () = every type ONNX Runtime quantizes
    float_roles: Tuple[str, ...]  # layer roles kept in float by default (layers.ROLES)
    description: str


TARGETS = {
    "cpu": Target(
        name="cpu", activations="uint8", weights="int8", symmetric_activations=False, op_types=(),
        float_roles=("box_decode",),
        description="ONNX Runtime on a CPU: U8 activations, S8 per-channel weights"),
    "tensorrt": Target(
        name="tensorrt", activations="int8", weights="int8", symmetric_activations=True,
        op_types=("Conv", "ConvTranspose", "MatMul", "Gemm"),
        float_roles=("box_decode", "stem", "iam_head"),
        description="TensorRT explicit quantization: symmetric S8 activations and per-channel weights, opset 17"),
}  # type: Dict[str, Target]


def target(name: str) -> Target:
    if name not in TARGETS:
        raise ValueError("--target must be one of {}, got {!r}".format(", ".join(sorted(TARGETS)), name))
    return TARGETS[name]


def precision_of(metadata: Any) -> Optional[Dict[str, Any]]:
    """The ``precision`` record a quantized model's metadata carries (written
    by ``fassst-rt quantize``), None for a float model."""
    record = getattr(metadata, "extra", {}).get("precision")
    return record if isinstance(record, dict) else None


def is_tensorrt_int8(metadata: Any) -> bool:
    """Whether the model is the ``--target tensorrt`` INT8 form."""
    record = precision_of(metadata)
    return record is not None and record.get("target") == "tensorrt" and record.get("weights") == "int8"
