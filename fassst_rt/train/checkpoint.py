"""Checkpoints that load without unpickling arbitrary objects.

A checkpoint is ``torch.save`` of a dict holding only tensors and plain
JSON-able values (dicts with string keys, lists, numbers, strings, bools,
None), so ``torch.load(path, weights_only=True)`` reads it:

```
{"format": "fassst_rt.checkpoint", "version": 1,
 "model": state_dict (str -> tensor), "model_config": ModelConfig.to_dict(),
 "train_config": TrainConfig.to_dict(), "iteration": int, "epoch": int,
 "optimizer": optimizer.state_dict() (tensors, numbers, lists),
 "rng": {"torch": uint8 tensor, "loss": uint8 tensor},
 "metrics": {...}}
```
"""

from __future__ import annotations

import math
import os
from typing import Any

import torch

from ..atomic import atomic_path
from .config import ModelConfig

__all__ = ["FORMAT", "VERSION", "save_checkpoint", "load_checkpoint", "model_from_checkpoint",
           "check_safe"]

FORMAT = "fassst_rt.checkpoint"
VERSION = 1


def check_safe(obj: Any, where: str = "checkpoint") -> None:
    """Raises TypeError unless ``obj`` holds only tensors and plain values."""
    if isinstance(obj, torch.Tensor) or obj is None or isinstance(obj, (bool, int, str)):
        return
    if isinstance(obj, float):
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, (str, int)):
                raise TypeError(f"{where}: key {k!r} is a {type(k).__name__}, not str/int")
            check_safe(v, f"{where}.{k}")
        return
    if isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            check_safe(v, f"{where}[{i}]")
        return
    raise TypeError(f"{where}: a {type(obj).__name__} cannot go into a safe checkpoint")


def _plain(obj: Any) -> Any:
    """Tuples -> lists, recursively (JSON-able configs)."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    return obj


def save_checkpoint(path: str | os.PathLike, model: torch.nn.Module, model_config: ModelConfig,
                    train_config: dict | None = None, iteration: int = 0, epoch: int = 0,
                    optimizer: torch.optim.Optimizer | None = None,
                    rng: dict[str, torch.Tensor] | None = None,
                    metrics: dict | None = None) -> str:
    """Writes a checkpoint atomically (temp file + rename); returns the path."""
    path = os.fspath(path)
    state = {
        "format": FORMAT,
        "version": VERSION,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "model_config": _plain(model_config.to_dict()),
        "train_config": _plain(train_config or {}),
        "iteration": int(iteration),
        "epoch": int(epoch),
        "optimizer": optimizer.state_dict() if optimizer is not None else {},
        "rng": dict(rng or {}),
        "metrics": _plain(metrics or {}),
    }
    check_safe(state)
    with atomic_path(path) as temporary:  # a resumable run never finds half a checkpoint
        torch.save(state, temporary)
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Reads a checkpoint with ``weights_only=True`` and checks its format."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # pickle of foreign objects, truncated files
        raise ValueError(f"{path}: not a loadable fassst_rt checkpoint ({e})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path}: not a fassst_rt checkpoint (no format {FORMAT!r})")
    if int(state.get("version", -1)) > VERSION:
        raise ValueError(f"{path}: checkpoint version {state.get('version')} is newer than this "
                         f"fassst_rt reads ({VERSION})")
    return state


def model_from_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu"):
    """(model in eval mode, ModelConfig) from a checkpoint."""
    from .network import FASSST

    state = load_checkpoint(path, map_location)
    config = ModelConfig.from_dict(state["model_config"])
    model = FASSST(config)
    model.load_state_dict(state["model"])
    return model.eval(), config
