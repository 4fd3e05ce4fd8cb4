"""Peak memory follows the batch limit, not the frame: a 4000 x 4000 frame
(961 tiles of the shipped model) runs in a subprocess whose peak RSS must stay
under 1.5 GB (all tiles in one call needed about 9 GB)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import resource, sys
import numpy as np
import fassst_rt
from fassst_rt import Segmenter
seg = Segmenter(sys.argv[1])
frame = np.full((4000, 4000, 3), 30, np.uint8)
frame[1000:1040, 1000:1050] = 200
inst = seg.run(frame)
labels = inst.label_image()
print(int(inst.timings["tiles"]), len(inst), labels.shape, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


@pytest.mark.slow
def test_a_4000_pixel_frame_peaks_under_1_5_gb():
    env = dict(os.environ)
    import fassst_rt
    env["PYTHONPATH"] = os.pathsep.join([str(Path(fassst_rt.__file__).parents[1]), env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(ROOT / "engines" / "fassst_default.onnx")],
                         capture_output=True, text=True, timeout=600, env=env, cwd=str(ROOT / "tests"))
    assert out.returncode == 0, out.stderr[-2000:]
    tiles, peak_kb = int(out.stdout.split()[0]), int(out.stdout.split()[-1])
    assert tiles > 900
    assert peak_kb < 1.5 * 2 ** 20, "peak RSS {:.0f} MB".format(peak_kb / 1024)
