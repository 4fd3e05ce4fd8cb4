"""The training loop behind ``fassst-rt train``.

``train(config)`` runs a ``TrainConfig``: data (a COCO file, or a synthetic set
generated under ``out_dir``), the model, the optimiser (SGD or AdamW with
linear warm-up and a cosine decay), a tqdm progress bar, log lines every
``log_every`` iterations (loss parts, lr, it/s, assignment drops) to the
console, ``out_dir/train.log`` and ``out_dir/log.jsonl``, checkpoints every
``checkpoint_every`` iterations and at the end (``ckpt_NNNNNNN.pt``, the last
three kept, and ``last.pt``; ``final.pt`` at the end), and ``resume``.

Determinism: the model is initialised from ``seed``; epoch e visits the data
in the order of a permutation drawn from ``(seed, e)``; the data set's
augmentation is a function of ``(seed, epoch, index)``; the mask-instance
sampling uses a generator whose state the checkpoints keep. With
``num_workers`` = 0 on the CPU, a run resumed from a checkpoint continues
exactly as the uninterrupted run (tests/train/test_training.py checks it).

The ``fassst-rt train`` options (``--config FILE``, ``--preset``, overrides)
are read in fassst_rt/cli/train.py.
"""

from __future__ import annotations

import glob
import json
import logging
import math
import os
import random
import time
from typing import Any

import numpy as np
import torch

from .checkpoint import load_checkpoint, save_checkpoint
from .config import ConfigError, ModelConfig, TrainConfig, save_train_config
from .losses import FassstLoss
from .network import FASSST, load_imagenet_backbone

__all__ = ["train", "build_dataset", "lr_at"]

log = logging.getLogger("fassst_rt.train")
KEEP_CHECKPOINTS = 3


# ---------------------------------------------------------------- helpers

def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def lr_at(config: TrainConfig, iteration: int, total: int) -> float:
    """Learning rate of an iteration: linear warm-up from lr/1000, then constant
    or cosine to ``min_lr_ratio * lr`` at the last iteration."""
    base = config.lr
    if config.warmup_iters and iteration < config.warmup_iters:
        f = (iteration + 1) / config.warmup_iters
        return base * (0.001 + 0.999 * f)
    if config.lr_schedule == "constant":
        return base
    span = max(1, total - config.warmup_iters)
    t = min(1.0, (iteration - config.warmup_iters) / span)
    lo = config.min_lr_ratio
    return base * (lo + (1 - lo) * 0.5 * (1 + math.cos(math.pi * t)))


def _synthetic(out_dir: str, name: str, num: int, size: int, seed: int) -> str:
    """A synthetic set under out_dir/synthetic/name, reused when it matches."""
    from ..data import synthetic

    where = os.path.join(out_dir, "synthetic", name)
    ann = os.path.join(where, "annotations.json")
    if os.path.isfile(ann):
        try:
            with open(ann) as f:
                d = json.load(f)
            if (len(d.get("images", [])) == num and d.get("info", {}).get("seed") == seed
                    and d.get("info", {}).get("size") == [size, size]):
                return ann
        except (OSError, ValueError):
            pass
    return synthetic.generate(where, num, size=size, seed=seed)


def build_dataset(config: TrainConfig, split: str = "train", augment: bool | None = None):
    """The CocoInstanceDataset of ``split`` ("train" or "val"), or None when the
    config names no validation data."""
    from .data.coco import CocoInstanceDataset

    mc = config.model
    if split == "train":
        ann, images, num, seed = (config.train_ann, config.train_images, config.synthetic_images,
                                  config.seed)
    else:
        ann, images, num, seed = (config.val_ann, config.val_images,
                                  config.synthetic_val_images, config.seed + 10007)
    if not ann:
        if num > 0:
            ann = _synthetic(config.out_dir, split, num, mc.input_size, seed)
            images = ""
        elif split == "train":
            raise ConfigError("no training data: set train_ann (COCO JSON) or synthetic_images")
        else:
            return None
    if augment is None:
        augment = config.augment and split == "train"
    return CocoInstanceDataset(ann, images or None, input_size=mc.input_size, augment=augment,
                               seed=config.seed, mean=mc.mean, std=mc.std,
                               augment_options=config.augment_options if augment else None)


def _adopt_classes(mc: ModelConfig, names: list[str]) -> ModelConfig:
    """The model's classes follow the data set's unless the config names them."""
    if mc.class_names:
        if list(mc.class_names) != list(names):
            raise ConfigError(f"the config's class_names {mc.class_names} differ from the data "
                              f"set's {names}")
        return mc
    return mc.replace(num_classes=len(names), class_names=list(names))


def _batches(base: list[int], batch: int, seed: int, epoch: int) -> list[list[int]]:
    """An epoch's batches: ``base`` (image indices, repeats allowed) permuted
    by (seed, epoch), cut into whole batches."""
    n = len(base)
    g = torch.Generator().manual_seed(seed * 1000003 + epoch)
    perm = [base[j] for j in torch.randperm(n, generator=g).tolist()]
    usable = (n // batch) * batch if n >= batch else n
    return [perm[i:i + batch] for i in range(0, usable, batch)]


def _epoch_base(dataset, config: TrainConfig) -> list[int]:
    """Every image once, or repeated by class-balanced repeat factors."""
    if config.class_balance <= 0:
        return list(range(len(dataset)))
    from .data.sampling import epoch_indices, repeat_factors

    factors = repeat_factors(dataset.image_classes(), config.class_balance)
    return epoch_indices(factors, config.seed)


def _freeze_all_but(model: torch.nn.Module, name: str) -> list[torch.nn.Module]:
    """Every top-level module of ``model`` but ``name`` frozen: no gradient,
    and (by _train_mode) BatchNorm statistics left as they are. Returns the
    frozen modules."""
    children = dict(model.named_children())
    if name not in children:
        raise ValueError(f"train_only: the model has no module {name!r} (it has {', '.join(children)})")
    frozen = [m for n, m in children.items() if n != name]
    for m in frozen:
        for p in m.parameters():
            p.requires_grad_(False)
    return frozen


def _train_mode(model: torch.nn.Module, frozen: list[torch.nn.Module]) -> None:
    model.train()
    for m in frozen:
        m.eval()


def _same_parameter_groups(saved: dict, optimizer: torch.optim.Optimizer) -> bool:
    return [len(g["params"]) for g in saved.get("param_groups", [])] == \
        [len(g["params"]) for g in optimizer.param_groups]


def _make_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:   # frozen (train_only)
            continue
        (no_decay if p.ndim <= 1 else decay).append(p)   # no decay on biases and BN
    groups = [{"params": decay, "weight_decay": config.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr)
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=True)


def _to_device(targets: list[dict], device: torch.device) -> list[dict]:
    return targets if device.type == "cpu" else [
        {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in t.items()}
        for t in targets]


class _Logger:
    def __init__(self, out_dir: str, echo):
        self.text = open(os.path.join(out_dir, "train.log"), "a", encoding="utf-8")
        self.jsonl = open(os.path.join(out_dir, "log.jsonl"), "a", encoding="utf-8")
        self.echo = echo

    def line(self, message: str, record: dict | None = None) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        self.text.write(f"{stamp} {message}\n")
        self.text.flush()
        if record is not None:
            self.jsonl.write(json.dumps(record) + "\n")
            self.jsonl.flush()
        self.echo(message)
        log.info(message)

    def close(self) -> None:
        self.text.close()
        self.jsonl.close()


def _prune(out_dir: str) -> None:
    old = sorted(glob.glob(os.path.join(out_dir, "ckpt_*.pt")))
    for path in old[:-KEEP_CHECKPOINTS]:
        try:
            os.remove(path)
        except OSError:
            pass


# ------------------------------------------------------------------ train

def train(config: TrainConfig) -> dict[str, Any]:
    """Trains a model; returns {"checkpoint", "iterations", "history", "model_config",
    "num_dropped", "num_instances", "out_dir"}."""
    config.validate()
    os.makedirs(config.out_dir, exist_ok=True)
    device = torch.device(config.device_resolved)
    threads_before = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        return _train(config, device)
    finally:
        torch.set_num_threads(threads_before)


def _train(config: TrainConfig, device: torch.device) -> dict[str, Any]:
    from tqdm.auto import tqdm

    from .data.coco import collate

    # Denormal floats (tiny gradients, Adam's second moments of them) are very
    # slow on x86 CPUs: flush them to zero.
    torch.set_flush_denormal(True)

    resume_state = None
    resume_path = config.resume
    if resume_path == "auto":
        cand = os.path.join(config.out_dir, "last.pt")
        resume_path = cand if os.path.isfile(cand) else ""
    if resume_path:
        resume_state = load_checkpoint(resume_path)

    dataset = build_dataset(config, "train")
    mc = _adopt_classes(config.model, list(dataset.class_names))
    if resume_state is not None:
        saved = ModelConfig.from_dict(resume_state["model_config"])
        if saved.to_dict() != mc.to_dict():
            raise ConfigError(f"{resume_path}: its model config differs from this run's; resume "
                              "with the config it was trained with")
    config = config.replace(model=mc)
    save_train_config(config, os.path.join(config.out_dir, "config.json"))

    seed_everything(config.seed)
    model = FASSST(mc)
    if config.backbone_weights and resume_state is None:
        sd = torch.load(config.backbone_weights, map_location="cpu", weights_only=True)
        if isinstance(sd, dict) and isinstance(sd.get("state_dict"), dict):
            sd = sd["state_dict"]
        loaded = load_imagenet_backbone(model, sd)
        print(f"backbone: {len(loaded)} tensors from {config.backbone_weights}")
    model = model.to(device)
    frozen = _freeze_all_but(model, config.train_only) if config.train_only else []
    optimizer = _make_optimizer(model, config)
    loss_gen = torch.Generator().manual_seed(config.seed + 1)
    criterion = FassstLoss(
        (config.loss_weights.mask, config.loss_weights.loc, config.loss_weights.cls),
        config.focal_alpha, config.focal_gamma, config.assign_rule, config.max_mask_instances,
        config.mask_box_jitter, mask_dice=config.mask_dice, centre_radius=config.centre_radius)

    batch = min(config.batch_size, len(dataset))
    if len(dataset) == 0:
        raise ConfigError("the training set is empty")
    base = _epoch_base(dataset, config)
    per_epoch = len(_batches(base, batch, config.seed, 0))
    total = config.iterations if config.iterations > 0 else config.epochs * per_epoch
    start = 0
    history: list[dict] = []
    counts = {"instances": 0, "dropped": 0, "moved": 0}
    if resume_state is not None:
        model.load_state_dict(resume_state["model"])
        saved_optimizer = resume_state.get("optimizer")
        if saved_optimizer and _same_parameter_groups(saved_optimizer, optimizer):
            optimizer.load_state_dict(saved_optimizer)
        elif saved_optimizer:  # a run that trained other layers (train_only changed): a fresh optimizer
            print(f"train: {resume_path}'s optimizer state is for other layers (train_only "
                  f"{config.train_only!r}): starting a fresh optimizer from its weights")
        start = int(resume_state["iteration"])
        rng = resume_state.get("rng", {})
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])
        if "loss" in rng:
            loss_gen.set_state(rng["loss"])
        m = resume_state.get("metrics", {})
        history = list(m.get("history", []))
        counts.update(m.get("counts", {}))

    logger = _Logger(config.out_dir, tqdm.write if config.progress else print)
    logger.line(f"train: {len(dataset)} images, {mc.num_classes} classes {mc.names()}, "
                f"{total} iterations ({per_epoch}/epoch, batch {batch}"
                + (f", {len(base)} samples/epoch by class balance {config.class_balance}"
                   if config.class_balance > 0 else "") + f"), device {device}, "
                f"{sum(p.numel() for p in model.parameters())} parameters"
                + (f", resumed at {start} from {resume_path}" if start else ""))

    def checkpoint(it: int, final: bool = False) -> str:
        rng = {"torch": torch.get_rng_state(), "loss": loss_gen.get_state()}
        metrics = {"history": history, "counts": counts}
        path = os.path.join(config.out_dir, f"ckpt_{it:07d}.pt")
        save_checkpoint(path, model, mc, config.to_dict(), it, it // per_epoch, optimizer, rng,
                        metrics)
        save_checkpoint(os.path.join(config.out_dir, "last.pt"), model, mc, config.to_dict(), it,
                        it // per_epoch, optimizer, rng, metrics)
        _prune(config.out_dir)
        if final:
            final_path = os.path.join(config.out_dir, "final.pt")
            save_checkpoint(final_path, model, mc, config.to_dict(), it, it // per_epoch,
                            None, None, metrics)
            return final_path
        return path

    bar = tqdm(total=total, initial=start, disable=not config.progress, dynamic_ncols=True,
               desc="train")
    window: dict[str, float] = {}
    window_n = 0
    t_window = time.perf_counter()
    it = start
    _train_mode(model, frozen)
    try:
        while it < total:
            epoch, pos = divmod(it, per_epoch)
            if hasattr(dataset, "set_epoch"):
                dataset.set_epoch(epoch)
            batches = _batches(base, batch, config.seed, epoch)[pos:]
            loader = torch.utils.data.DataLoader(
                dataset, batch_sampler=batches, collate_fn=collate,
                num_workers=config.num_workers, persistent_workers=False)
            for images, targets in loader:
                if it >= total:
                    break
                lr = lr_at(config, it, total)
                for g in optimizer.param_groups:
                    g["lr"] = lr
                images = images.to(device, non_blocking=True)
                targets = _to_device(targets, device)
                out = model.forward_train(images)
                losses = criterion(model, out, targets, loss_gen)
                if not torch.isfinite(losses.total):
                    raise FloatingPointError(
                        f"iteration {it}: the loss is {float(losses.total)} "
                        f"({losses.parts()}); lower the lr or check the data")
                optimizer.zero_grad(set_to_none=True)
                losses.total.backward()
                if config.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
                it += 1
                counts["instances"] += losses.num_instances
                counts["dropped"] += losses.num_dropped
                counts["moved"] += losses.num_moved
                for k, v in losses.parts().items():
                    window[k] = window.get(k, 0.0) + v
                window_n += 1
                bar.update(1)
                bar.set_postfix(loss=f"{float(losses.total.detach()):.3f}", lr=f"{lr:.2e}")
                if it % config.log_every == 0 or it == total:
                    dt = time.perf_counter() - t_window
                    rec = {k: v / window_n for k, v in window.items()}
                    rec.update({"iteration": it, "epoch": epoch, "lr": lr,
                                "it_per_s": window_n / max(dt, 1e-9),
                                "dropped": counts["dropped"], "instances": counts["instances"]})
                    history.append(rec)
                    logger.line(
                        f"it {it}/{total} ep {epoch} loss {rec['loss']:.4f} (mask {rec['mask']:.4f}"
                        f" loc {rec['loc']:.4f} cls {rec['cls']:.4f}) lr {lr:.3g} "
                        f"{rec['it_per_s']:.2f} it/s, dropped {counts['dropped']}/"
                        f"{counts['instances']} instances", rec)
                    window, window_n, t_window = {}, 0, time.perf_counter()
                if it % config.checkpoint_every == 0 and it < total:
                    checkpoint(it)
    finally:
        bar.close()
    final = checkpoint(it, final=True)
    logger.line(f"done: {it} iterations, checkpoint {final}; assignment dropped "
                f"{counts['dropped']} of {counts['instances']} instances "
                f"({counts['moved']} placed in a neighbouring cell)")
    logger.close()
    return {"checkpoint": final, "iterations": it, "history": history,
            "model_config": mc.to_dict(), "num_dropped": counts["dropped"],
            "num_instances": counts["instances"], "out_dir": config.out_dir}
