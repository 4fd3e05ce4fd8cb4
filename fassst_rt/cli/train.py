"""``fassst-rt train``: the training options (``--config FILE``, JSON, or YAML
with PyYAML; ``--preset``; options that override the file) made into a
``TrainConfig`` and run by fassst_rt/train/trainer.py (PyTorch, imported only
when a run starts)."""

import argparse
import json
import logging
from typing import TYPE_CHECKING, Any, Dict

if TYPE_CHECKING:
    from ..train.config import TrainConfig

_MODEL_OPTIONS = {  # option dest -> ModelConfig field
    "input_size": "input_size", "width_mult": "width_mult", "head_depth": "head_depth",
    "grid": "S", "mask_channels": "M", "tail_channels": "tail_channels", "S1": "S1",
    "iam_channels": "iam_channels",
}
_TRAIN_OPTIONS = ("out_dir", "train_ann", "train_images", "val_ann", "val_images",
                  "backbone_weights", "synthetic_images", "synthetic_val_images", "epochs",
                  "iterations", "batch_size", "lr", "optimizer", "weight_decay", "num_workers",
                  "device", "threads", "seed", "log_every", "checkpoint_every", "assign_rule",
                  "class_balance", "centre_radius")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``fassst-rt train``. Order of precedence: --preset, then
    --config FILE (which may itself name a preset), then the options below."""
    from ..train.config import PRESETS

    parser.add_argument("--config", metavar="FILE", help="training config (.json, or .yaml "
                        "with PyYAML); a top-level \"preset\" key starts from that preset")
    parser.add_argument("--preset", choices=PRESETS,
                        help="start from a preset (paper: the paper's defaults; cpu_small: ~1 h "
                        "on 2 CPU cores; tiny: smoke tests)")
    g = parser.add_argument_group("data")
    g.add_argument("--train-ann", help="COCO annotation JSON of the training set")
    g.add_argument("--train-images", help="image folder (default: the JSON's folder)")
    g.add_argument("--val-ann")
    g.add_argument("--val-images")
    g.add_argument("--synthetic-images", type=int, metavar="N",
                   help="train on N generated synthetic images instead")
    g.add_argument("--synthetic-val-images", type=int, metavar="N")
    g.add_argument("--no-augment", action="store_true")
    g.add_argument("--class-balance", type=float, metavar="T",
                   help="repeat images of rare classes (LVIS repeat factors, threshold T: a "
                   "class in a fraction f of the images is repeated max(1, sqrt(T/f)) times); "
                   "0 = off (default)")
    g.add_argument("--workers", dest="num_workers", type=int)
    g = parser.add_argument_group("schedule")
    g.add_argument("--epochs", type=int)
    g.add_argument("--iterations", type=int, help="> 0 overrides --epochs")
    g.add_argument("--batch-size", type=int)
    g.add_argument("--lr", type=float)
    g.add_argument("--optimizer", choices=("sgd", "adamw"))
    g.add_argument("--weight-decay", type=float)
    g.add_argument("--assign-rule", choices=("nearest_free", "larger"))
    g.add_argument("--centre-radius", type=float, metavar="R",
                   help="also make positive the free cells whose centre is inside an instance's "
                   "box and within R cells of its centre (0 = the paper's one cell, default)")
    g = parser.add_argument_group("model")
    g.add_argument("--input-size", type=int)
    g.add_argument("--width-mult", type=float)
    g.add_argument("--head-depth", type=int)
    g.add_argument("--grid", type=int, metavar="S", help="IAM grid S (4..9)")
    g.add_argument("--mask-channels", type=int, metavar="M")
    g.add_argument("--tail-channels", type=int)
    g.add_argument("--iam-channels", type=int)
    g.add_argument("--S1", type=int, help="RFF output size (multiple of 4)")
    g.add_argument("--no-rff", action="store_true", help="tail fed with R1 only (ablation)")
    g.add_argument("--backbone-weights", metavar="PTH",
                   help="start the backbone from MobileNetV2 ImageNet weights (a state dict "
                   "laid out as torchvision's mobilenet_v2; the width must match)")
    g = parser.add_argument_group("run")
    g.add_argument("--out-dir", help="where logs and checkpoints go")
    g.add_argument("--device", help="auto (default), cpu, cuda, cuda:N")
    g.add_argument("--threads", type=int, help="PyTorch CPU threads (0: default)")
    g.add_argument("--seed", type=int)
    g.add_argument("--log-every", type=int)
    g.add_argument("--checkpoint-every", type=int)
    g.add_argument("--resume", nargs="?", const="auto", metavar="CKPT",
                   help="resume from CKPT (bare --resume: OUT_DIR/last.pt)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any config key, dotted for nested ones (model.M=64); VALUE is JSON "
                   "or a bare string")


def config_from_args(args: argparse.Namespace) -> "TrainConfig":
    """The TrainConfig the options describe (ConfigError for a bad one)."""
    from ..train.config import ConfigError, TrainConfig, load_config_file, preset

    d = preset(args.preset).to_dict() if getattr(args, "preset", None) else {}  # type: Dict[str, Any]
    if getattr(args, "config", None):
        file_d = load_config_file(args.config)
        if "preset" in file_d:
            d = preset(file_d.pop("preset")).to_dict()
        for k, v in file_d.items():
            nested = k in ("model", "loss_weights")
            if nested and isinstance(v, dict) and isinstance(d.get(k), dict):
                d[k] = {**d[k], **v}
            else:
                d[k] = v
    d.setdefault("model", {})
    for dest in _TRAIN_OPTIONS:
        v = getattr(args, dest, None)
        if v is not None:
            d[dest] = v
    for dest, key in _MODEL_OPTIONS.items():
        v = getattr(args, dest, None)
        if v is not None:
            d["model"][key] = v
    if getattr(args, "no_rff", False):
        d["model"]["use_rff"] = False
    if getattr(args, "no_augment", False):
        d["augment"] = False
    if getattr(args, "no_progress", False):
        d["progress"] = False
    if getattr(args, "resume", None):
        d["resume"] = args.resume
    for item in getattr(args, "set", []) or []:
        if "=" not in item:
            raise ConfigError(f"--set wants KEY=VALUE, got {item!r}")
        key, raw = item.split("=", 1)
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        node = d
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    try:
        return TrainConfig.from_dict(d)
    except TypeError as e:
        raise ConfigError(str(e)) from None


def run(args: argparse.Namespace) -> int:
    from ..train.config import ConfigError
    from ..train.trainer import train

    logging.basicConfig(level=logging.WARNING)
    try:
        config = config_from_args(args)
        result = train(config)
    except ConfigError as e:
        print(f"fassst-rt train: {e}")
        return 2
    print(result["checkpoint"])
    return 0
