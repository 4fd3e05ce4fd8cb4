"""A Segmenter behind Triton's tensors: the logic of the exported ``model.py``
(Triton's Python backend) and of a PyTriton binding, written once.

Tensors (names fixed by :data:`INPUT` and :data:`OUTPUT`):

- ``IMAGE``: uint8 (B, H, W, C), C = 1 or 3 (BGR, as OpenCV reads; RGB when
  the repository is exported with ``--rgb``), one request's frames of one size;
- ``INSTANCES_JSON``: bytes (B, 1), each frame's ``Instances.to_json()``
  (image_size, instances with label, name, score, box and COCO RLE mask,
  timings_ms), the document ``fassst-rt segment --json`` writes.
"""

import json
import os
from typing import Any, Dict, List, Optional

import numpy as np

INPUT = "IMAGE"
OUTPUT = "INSTANCES_JSON"
SETTINGS_FILE = "fassst_serving.json"  # beside the model files in the repository's version folder


class ServedSegmenter:
    """One Segmenter answering batches of frames. ``settings``: ``model`` (a
    file name in ``folder``) and the Segmenter's options (thresholds, tile,
    channel_order, num_threads); ``device`` as ``Segmenter`` takes it."""

    def __init__(self, folder: str, settings: Dict[str, Any], device: str = "auto") -> None:
        from ..segmenter import Segmenter
        settings = dict(settings)
        model = settings.pop("model", None)
        if not isinstance(model, str) or os.path.basename(model) != model:
            raise ValueError("{}: 'model' must be the model's file name in {}, got {!r}".format(
                SETTINGS_FILE, folder, model))
        self.segmenter = Segmenter(os.path.join(folder, model), device=device, **settings)

    @classmethod
    def from_folder(cls, folder: str, gpu: Optional[int] = None) -> "ServedSegmenter":
        """The Segmenter an exported version folder describes (its settings
        file), on the CPU, or on GPU ``gpu`` (TensorRT engines on that device;
        ONNX Runtime's CUDA provider on its default device)."""
        path = os.path.join(folder, SETTINGS_FILE)
        if not os.path.isfile(path):
            raise FileNotFoundError("{}: missing; a repository made by `fassst-rt export-triton` has it beside "
                                    "the model files".format(path))
        with open(path, encoding="utf-8") as f:
            settings = json.load(f)
        if gpu is None:
            device = "cpu"
        else:
            device = "cuda:{}".format(int(gpu)) if str(settings.get("model", "")).endswith(".plan") else "cuda"
        return cls(folder, settings, device)

    def infer(self, images: np.ndarray) -> np.ndarray:
        """(B, H, W, C) uint8 frames -> (B, 1) object array of UTF-8 JSON documents."""
        images = np.asarray(images)
        if images.ndim != 4 or images.dtype != np.uint8 or images.shape[3] not in (1, 3):
            raise ValueError("{} must be uint8 (batch, height, width, 1 or 3 channels), got {} {}".format(
                INPUT, images.dtype, images.shape))
        documents = []  # type: List[bytes]
        for frame in images:
            frame = frame[:, :, 0] if frame.shape[2] == 1 else frame
            documents.append(self.segmenter.run(np.ascontiguousarray(frame)).to_json().encode("utf-8"))
        return np.array(documents, dtype=object).reshape(-1, 1)

    def close(self) -> None:
        self.segmenter.close()
