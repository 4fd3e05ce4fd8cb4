"""Peak memory follows the Segmenter's memory budget, not the frame.

Each case runs in a subprocess and reads its peak RSS (VmHWM: the
process's own address space; ru_maxrss would start at the forking parent's): a 4000 x 4000 frame
(961 tiles of the shipped model) at the defaults; the same grey frame under a
small and a large budget with no tile-count limit, whose growth must stay
under each budget and follow it; and a 20000 x 20000 grey frame, whose
3-channel copy alone exceeds the default budget, refused before anything is
allocated."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The peak RSS of the script's own process, in KiB.
PEAK_KIB = r"""
def peak_kib():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
"""

MODEL = str(ROOT / "engines" / "fassst_default.onnx")

DEFAULTS = r"""
import sys
import numpy as np
from fassst_rt import Segmenter
seg = Segmenter(sys.argv[1])
frame = np.full((4000, 4000, 3), 30, np.uint8)
frame[1000:1040, 1000:1050] = 200
seg.run(frame[:400, :400])
before = peak_kib()
inst = seg.run(frame)
labels = inst.label_image()
print(int(inst.timings["tiles"]), len(inst), labels.shape, peak_kib() - before, peak_kib())
"""

# Growth of the peak RSS over a warmed-up process (model loaded, first calls
# made) while one grey frame runs with no tile-count limit.
UNDER_BUDGET = r"""
import sys
import numpy as np
from fassst_rt import Segmenter
seg = Segmenter(sys.argv[1], max_batch=4096, memory_budget_mib=int(sys.argv[2]), num_threads=2)
frame = np.full((2000, 2000), 30, np.uint8)
frame[500:540, 500:550] = 200
seg.run(frame[:400, :400])
before = peak_kib()
inst = seg.run(frame)
print(int(inst.timings["tiles"]), (peak_kib() - before) / 1024)
"""

REFUSED = r"""
import sys
import numpy as np
from fassst_rt import Segmenter
seg = Segmenter(sys.argv[1])
frame = np.zeros((20000, 20000), np.uint8)  # pages untouched: no RSS until written or copied
try:
    seg.run(frame)
    print("ran")
except MemoryError as e:
    print("refused:", e)
print(peak_kib())
"""


def run_script(script, *args):
    env = dict(os.environ)
    import fassst_rt
    env["PYTHONPATH"] = os.pathsep.join([str(Path(fassst_rt.__file__).parents[1]), env.get("PYTHONPATH", "")])
    command = [sys.executable, "-c", PEAK_KIB + script, *map(str, args)]
    out = subprocess.run(command, capture_output=True, text=True,
                         timeout=600, env=env, cwd=str(ROOT / "tests"))
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


@pytest.mark.slow
def test_a_4000_pixel_frame_peaks_under_1_5_gb_and_grows_under_the_budget():
    out = run_script(DEFAULTS, MODEL).split()
    tiles, grown_kib, peak_kib = int(out[0]), int(out[-2]), int(out[-1])
    assert tiles > 900
    assert peak_kib < 1.5 * 2 ** 20, "peak RSS {:.0f} MiB".format(peak_kib / 1024)
    # the frame is the caller's (BGR, read in place): what it made the
    # pipeline hold is under the default budget of 1024 MiB
    assert grown_kib < 1024 * 1024, "the run grew the peak by {:.0f} MiB".format(grown_kib / 1024)


@pytest.mark.slow
def test_the_working_set_stays_under_the_budget_and_follows_it():
    growth = {}
    for budget in (48, 512):
        tiles, grown_mib = run_script(UNDER_BUDGET, MODEL, budget).split()
        assert int(tiles) == 256
        growth[budget] = float(grown_mib)
        assert growth[budget] < budget, "budget {} MiB, peak grew by {:.0f} MiB".format(budget, growth[budget])
    # all 256 tiles in one call would grow by about 2 GiB; the small budget
    # runs one tile per call, the large one about fourteen
    assert growth[48] * 3 < growth[512], growth


def test_a_frame_whose_copy_exceeds_the_budget_is_refused_before_allocating():
    out = run_script(REFUSED, MODEL).splitlines()
    assert out[0].startswith("refused: image: a 20000 x 20000 frame is too large for memory_budget_mib = 1024"), out
    assert "converting to 3 channels holds 1144.4 MiB" in out[0]
    assert int(out[-1]) < 600 * 1024, "peak RSS {} kB: the 1.2 GB copy was made".format(out[-1])
