"""Model and training configuration: dataclasses, validation, presets, files.

``ModelConfig`` fixes the network (docs/model.md); its defaults are the paper's
(FASSST-416: MobileNetV2 1.0, network-head depth 5, S = 6, RFF on).
``TrainConfig`` holds the training run and embeds a ``ModelConfig`` under
``model``. Both convert to and from plain JSON-able dicts (what checkpoints
store). Files: ``.json`` always, ``.yaml``/``.yml`` when PyYAML is installed.

Presets (``preset(name)``):

- ``paper``: the paper's settings (batch 8, lr 0.005, 100 epochs, SGD), for GPUs.
- ``cpu_small``: a model and schedule meant to train in about an hour on two
  CPU cores and to run a whole 416 frame with ~8 instances in well under
  33 ms on ONNX Runtime CPU (docs/model.md has the measurements that chose it).
- ``tiny``: a very small model for tests and smoke runs (seconds per step).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

from ..atomic import atomic_write_text

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: MobileNetV2 stages available to the network head: the stem conv, then the
#: seven inverted-residual stages (see network.py).
NUM_BACKBONE_STAGES = 8
STRIDES = (8, 16, 32)


class ConfigError(ValueError):
    """A configuration value is missing, of the wrong type or out of range."""


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ConfigError(message)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass
class ModelConfig:
    """The network's shape. Defaults are the paper's FASSST-416."""

    input_size: int = 416          #: square network input, multiple of 32
    width_mult: float = 1.0        #: MobileNetV2 width multiplier
    head_depth: int = 5            #: MobileNetV2 stages in the network head (stem = 1), 3..8
    S: int = 6                     #: IAM grid is S x S cells, n = S*S instances at most
    num_classes: int = 80
    M: int = 128                   #: channels of each pyramid mask layer p1, p2, p3
    tail_channels: int = 128       #: channels of the tail's convolutions
    S1: int = 28                   #: RFF output size (R1 is S1, R2 S1/2, R3 S1/4); masks 2*S1
    iam_channels: int = 192        #: channels of the IAM's convolutions
    use_rff: bool = True           #: False: the tail gets R1 = roi_crop(p1) only (Table 9)
    class_names: list[str] = field(default_factory=list)  #: empty: "class0", "class1", ...
    mean: tuple[float, float, float] = IMAGENET_MEAN    #: RGB, on x/255
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self) -> None:
        self.mean = tuple(self.mean)
        self.std = tuple(self.std)
        self.class_names = list(self.class_names)
        self.validate()

    # ------------------------------------------------------------ validation
    def validate(self) -> "ModelConfig":
        _check(_is_int(self.input_size) and self.input_size >= 32 and self.input_size % 32 == 0,
               f"input_size must be a positive multiple of 32, got {self.input_size!r}")
        _check(_is_num(self.width_mult) and 0.1 <= self.width_mult <= 4.0,
               f"width_mult must be a number in [0.1, 4], got {self.width_mult!r}")
        _check(_is_int(self.head_depth) and 3 <= self.head_depth <= NUM_BACKBONE_STAGES,
               f"head_depth must be an int in 3..{NUM_BACKBONE_STAGES}, got {self.head_depth!r}")
        _check(_is_int(self.S) and 4 <= self.S <= 9, f"S must be an int in 4..9, got {self.S!r}")
        _check(_is_int(self.num_classes) and self.num_classes >= 1,
               f"num_classes must be an int >= 1, got {self.num_classes!r}")
        for name in ("M", "tail_channels", "iam_channels"):
            v = getattr(self, name)
            _check(_is_int(v) and 1 <= v <= 4096, f"{name} must be an int in 1..4096, got {v!r}")
        _check(_is_int(self.S1) and self.S1 >= 4 and self.S1 % 4 == 0,
               f"S1 must be a positive multiple of 4 (R2 is S1/2, R3 S1/4), got {self.S1!r}")
        _check(isinstance(self.use_rff, bool), f"use_rff must be a bool, got {self.use_rff!r}")
        _check(all(isinstance(c, str) for c in self.class_names),
               "class_names must be a list of strings")
        _check(not self.class_names or len(self.class_names) == self.num_classes,
               f"class_names has {len(self.class_names)} names but num_classes is "
               f"{self.num_classes}")
        _check(len(set(self.class_names)) == len(self.class_names), "class_names must be unique")
        for name in ("mean", "std"):
            v = getattr(self, name)
            _check(len(v) == 3 and all(_is_num(x) for x in v), f"{name} must be 3 numbers")
        _check(all(x > 0 for x in self.std), "std must be positive")
        return self

    # ----------------------------------------------------------- derived
    @property
    def n(self) -> int:
        """Grid cells = the most instances one frame can hold."""
        return self.S * self.S

    @property
    def strides(self) -> tuple[int, int, int]:
        return STRIDES

    @property
    def mask_size(self) -> int:
        """Side of the tail's output mask, 2 * S1."""
        return 2 * self.S1

    def names(self) -> list[str]:
        """Class names, generated when none were given."""
        return list(self.class_names) or [f"class{i}" for i in range(self.num_classes)]

    # ------------------------------------------------------------- dicts
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["mean"] = [float(x) for x in self.mean]
        d["std"] = [float(x) for x in self.std]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        _check(isinstance(d, dict), f"model config must be a mapping, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        _check(not unknown, f"unknown model config keys: {unknown}")
        return cls(**copy.deepcopy(d))

    def replace(self, **changes: Any) -> "ModelConfig":
        return ModelConfig.from_dict({**self.to_dict(), **changes})


@dataclass
class LossWeights:
    """The paper's lambda_m, lambda_l, lambda_c (eq. 5)."""

    mask: float = 5.75
    loc: float = 3.0
    cls: float = 1.25


TRAIN_ONLY = ("", "tail")   # TrainConfig.train_only: everything, or the FASSST module of that name


@dataclass
class TrainConfig:
    """A training run. ``iterations`` > 0 overrides ``epochs``."""

    model: ModelConfig = field(default_factory=ModelConfig)
    # data: COCO JSON + image folder; synthetic_images > 0 generates a
    # synthetic set (fassst_rt.data.synthetic) under out_dir instead.
    train_ann: str = ""
    train_images: str = ""
    val_ann: str = ""
    val_images: str = ""
    synthetic_images: int = 0
    synthetic_val_images: int = 0
    augment: bool = True
    augment_options: dict = field(default_factory=dict)  #: data/augment.py DEFAULTS overrides
    class_balance: float = 0.0     #: repeat-factor threshold (data/sampling.py), 0 = off
    num_workers: int = 0
    # schedule
    epochs: int = 100
    iterations: int = 0
    batch_size: int = 8
    optimizer: str = "sgd"         #: "sgd" (momentum 0.9) or "adamw"
    lr: float = 0.005
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_iters: int = 500
    lr_schedule: str = "cosine"    #: "cosine" (to min_lr_ratio * lr) or "constant"
    min_lr_ratio: float = 0.05
    grad_clip: float = 10.0        #: max global grad norm, 0 = off
    # losses
    loss_weights: LossWeights = field(default_factory=LossWeights)
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    assign_rule: str = "nearest_free"  #: "nearest_free" or "larger" (targets.py)
    centre_radius: float = 0.0     #: > 0: centre-region positive cells (targets.py); 0 = paper
    mask_dice: str = "symmetric"   #: "symmetric" (instance + background) or "foreground"
    max_mask_instances: int = 64   #: per batch, instances the tail is trained on
    mask_box_jitter: float = 0.05  #: GT box jitter (fraction of size) for the mask branch
    #: "" trains every layer; "tail": only the mask tail, the rest frozen
    #: (weights and BatchNorm statistics), so the frame graph stays the one
    #: resumed from (a new tail for an existing detector)
    train_only: str = ""
    # run
    seed: int = 0
    device: str = "auto"           #: "auto" (CUDA when present, else CPU), "cpu", "cuda", "cuda:1"
    threads: int = 0               #: torch CPU threads, 0 = PyTorch's default
    out_dir: str = "runs/train"
    log_every: int = 20
    checkpoint_every: int = 500
    progress: bool = True          #: tqdm progress bar
    resume: str = ""               #: checkpoint to resume from ("auto": out_dir/last.pt if present)
    backbone_weights: str = ""     #: ImageNet MobileNetV2 state dict (torchvision layout)

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):
            self.model = ModelConfig.from_dict(self.model)
        if isinstance(self.loss_weights, dict):
            self.loss_weights = LossWeights(**self.loss_weights)
        self.validate()

    def validate(self) -> "TrainConfig":
        _check(isinstance(self.model, ModelConfig), "model must be a ModelConfig")
        self.model.validate()
        for name in ("epochs", "iterations", "warmup_iters", "num_workers", "seed", "threads",
                     "synthetic_images", "synthetic_val_images"):
            v = getattr(self, name)
            _check(_is_int(v) and v >= 0, f"{name} must be an int >= 0, got {v!r}")
        for name in ("batch_size", "log_every", "checkpoint_every", "max_mask_instances"):
            v = getattr(self, name)
            _check(_is_int(v) and v >= 1, f"{name} must be an int >= 1, got {v!r}")
        _check(self.epochs > 0 or self.iterations > 0, "set epochs or iterations > 0")
        for name in ("lr", "momentum", "weight_decay", "min_lr_ratio", "grad_clip",
                     "focal_alpha", "focal_gamma", "mask_box_jitter", "class_balance",
                     "centre_radius"):
            v = getattr(self, name)
            _check(_is_num(v) and v >= 0, f"{name} must be a number >= 0, got {v!r}")
        _check(self.lr > 0, "lr must be > 0")
        _check(self.focal_alpha <= 1, "focal_alpha must be in [0, 1]")
        _check(self.optimizer in ("sgd", "adamw"), f"optimizer must be sgd or adamw, got "
               f"{self.optimizer!r}")
        _check(self.lr_schedule in ("cosine", "constant"), "lr_schedule must be cosine or constant")
        _check(self.mask_dice in ("symmetric", "foreground"),
               f"mask_dice must be symmetric or foreground, got {self.mask_dice!r}")
        _check(self.assign_rule in ("nearest_free", "larger"),
               f"assign_rule must be nearest_free or larger, got {self.assign_rule!r}")
        _check(self.train_only in TRAIN_ONLY, f"train_only must be one of {', '.join(map(repr, TRAIN_ONLY))}, "
               f"got {self.train_only!r}")
        for name in ("mask", "loc", "cls"):
            v = getattr(self.loss_weights, name)
            _check(_is_num(v) and v >= 0, f"loss_weights.{name} must be a number >= 0")
        _check(isinstance(self.device, str) and (self.device in ("auto", "cpu", "cuda")
                                                 or self.device.startswith("cuda:")),
               f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        for name in ("train_ann", "train_images", "val_ann", "val_images", "out_dir", "resume",
                     "backbone_weights"):
            _check(isinstance(getattr(self, name), str), f"{name} must be a string")
        return self

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["model"] = self.model.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        _check(isinstance(d, dict), f"train config must be a mapping, got {type(d).__name__}")
        d = copy.deepcopy(d)
        base: dict[str, Any] = {}
        if "preset" in d:
            base = preset(d.pop("preset")).to_dict()
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        _check(not unknown, f"unknown train config keys: {unknown}")
        merged = {**base, **d}
        # nested mappings merge key by key over the preset
        for key in ("model", "loss_weights"):
            if key in base and key in d:
                _check(isinstance(d[key], dict), f"{key} must be a mapping")
                merged[key] = {**base[key], **d[key]}
        return cls(**merged)

    def replace(self, **changes: Any) -> "TrainConfig":
        d = self.to_dict()
        for k, v in changes.items():
            if k == "model" and isinstance(v, ModelConfig):
                v = v.to_dict()
            d[k] = v
        return TrainConfig.from_dict(d)

    @property
    def device_resolved(self) -> str:
        if self.device != "auto":
            return self.device
        import torch
        return "cuda" if torch.cuda.is_available() else "cpu"


# ------------------------------------------------------------------ presets

def _presets() -> dict[str, dict[str, Any]]:
    return {
        "paper": {},
        # Chosen from docs/model.md's measurements: a 416 frame with 8 instances
        # in 12.4 ms (7.3 ms at 320) on ONNX Runtime CPU, 2 threads; ~0.65 s per
        # training step at batch 8 on 2 cores, so 5000 steps take under an hour.
        "cpu_small": {
            "model": {"input_size": 320, "width_mult": 0.5, "M": 32, "tail_channels": 32,
                      "S1": 16, "iam_channels": 96},
            "epochs": 0, "iterations": 5000, "batch_size": 8, "optimizer": "adamw",
            "lr": 2e-3, "weight_decay": 1e-4, "warmup_iters": 200, "num_workers": 0,
            "max_mask_instances": 48, "log_every": 50, "checkpoint_every": 500,
        },
        # For tests and smoke runs.
        "tiny": {
            "model": {"input_size": 128, "width_mult": 0.35, "M": 16, "tail_channels": 16,
                      "S1": 12, "iam_channels": 32, "S": 4},
            "epochs": 0, "iterations": 200, "batch_size": 4, "optimizer": "adamw",
            "lr": 3e-3, "weight_decay": 1e-4, "warmup_iters": 20, "log_every": 20,
            "checkpoint_every": 100, "max_mask_instances": 32,
        },
    }


PRESETS = tuple(_presets())


def preset(name: str) -> TrainConfig:
    """The named preset as a TrainConfig (``paper``, ``cpu_small``, ``tiny``)."""
    table = _presets()
    _check(name in table, f"unknown preset {name!r}; choose one of {sorted(table)}")
    d = table[name]
    model = ModelConfig.from_dict(d.get("model", {}))
    rest = {k: v for k, v in d.items() if k != "model"}
    return TrainConfig(model=model, **rest)


# -------------------------------------------------------------------- files

def load_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Reads a JSON or YAML mapping (YAML needs PyYAML)."""
    path = os.fspath(path)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    ext = os.path.splitext(path)[1].lower()
    if ext in (".yaml", ".yml"):
        try:
            import yaml  # type: ignore
        except ImportError:
            raise ConfigError(f"{path}: reading YAML needs PyYAML (pip install pyyaml); "
                              "or write the config as JSON") from None
        data = yaml.safe_load(text)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}: not valid JSON: {e}") from None
    _check(isinstance(data, dict), f"{path}: the config must be a mapping at top level")
    return data


def load_train_config(path: str | os.PathLike) -> TrainConfig:
    """A TrainConfig from a file; a top-level ``preset`` key starts from that preset."""
    data = load_config_file(path)
    try:
        return TrainConfig.from_dict(data)
    except (ConfigError, TypeError) as e:
        raise ConfigError(f"{os.fspath(path)}: {e}") from None


def save_train_config(config: TrainConfig, path: str | os.PathLike) -> None:
    atomic_write_text(path, json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n")
