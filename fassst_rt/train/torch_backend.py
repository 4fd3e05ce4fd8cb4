"""The PyTorch reference model as a runtime backend: the frame graph and the
tail run in PyTorch and the ROI feature fusion is the pure-PyTorch one
(fassst_rt.train.rff), so a Segmenter on this backend shares only letterbox,
select and paste (the C++ core, by design) with a Segmenter on exported graphs.
Parity between the two checks the export, ONNX Runtime and the RFF kernel."""

import numpy as np
import torch

from ..backends.base import Backend, FrameOutputs
from ..metadata import ModelMetadata


class TorchBackend(Backend):
    name = "torch"
    fuses_host_pyramid = True  # the PyTorch RFF, so that parity checks the kernel

    def __init__(self, model: torch.nn.Module, metadata: ModelMetadata) -> None:
        self.model = model.eval()
        self.metadata = metadata
        self.path = "<torch model>"

    @torch.no_grad()
    def run_frame(self, images: np.ndarray) -> FrameOutputs:
        outputs = self.model.forward_frame(torch.from_numpy(np.ascontiguousarray(images)))
        boxes, scores, p1, p2, p3 = (o.numpy() for o in outputs)
        return FrameOutputs(boxes, scores, p1, p2, p3)

    @torch.no_grad()
    def run_tail(self, rois: np.ndarray) -> np.ndarray:
        return self.model.forward_tail(torch.from_numpy(rois)).numpy()

    @torch.no_grad()
    def fuse_and_tail(self, frame: FrameOutputs, rois: np.ndarray) -> np.ndarray:
        p1, p2, p3 = (torch.from_numpy(np.ascontiguousarray(p)) for p in (frame.p1, frame.p2, frame.p3))
        return self.model.forward_masks(p1, p2, p3, torch.from_numpy(rois)).numpy()
