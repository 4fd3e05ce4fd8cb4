"""The conditions a measurement was made under: CPU, GPU, on a Jetson its release,
power mode and clock locks, library versions, load average."""

import glob
import os
import platform
import shutil
import subprocess
from typing import Dict, List, Optional, Sequence

import numpy as np


def _run(cmd: Sequence[str], timeout: float = 10.0) -> Optional[str]:
    if shutil.which(cmd[0]) is None:
        return None
    try:
        out = subprocess.run(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
        return out.stdout.decode(errors="replace").strip()
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_name() -> Optional[str]:
    out = _run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"])
    if out and "failed" not in out.lower() and "not found" not in out.lower():
        return out.splitlines()[0].strip()
    return None


def _read(path: str) -> Optional[str]:
    try:
        with open(path) as f:
            return f.read().strip("\x00\n ")
    except OSError:
        return None


def _freq_range(folder: str, lo_name: str, hi_name: str, cur_name: str) -> Optional[Dict[str, object]]:
    lo, hi, cur = (_read(os.path.join(folder, n)) for n in (lo_name, hi_name, cur_name))
    try:
        lo_i, hi_i = int(lo), int(hi)
    except (TypeError, ValueError):
        return None
    return {"min": lo_i, "max": hi_i, "cur": int(cur) if cur and cur.isdigit() else None, "locked": lo_i == hi_i}


GPU_DEVFREQ_NAMES = ("gv11b", "ga10b", "gp10b", "gpu")  # Xavier, Orin, TX2, generic (JetPack 6)


def jetson_info(sys_root: str = "/") -> Optional[Dict[str, object]]:
    """L4T release, board model, power mode (`nvpmodel -q`) and whether the clocks are
    locked (`sudo jetson_clocks` sets each clock's minimum to its maximum): GPU and EMC
    (memory) from devfreq, CPU from cpufreq. ``sys_root`` is for tests."""
    release = _read(os.path.join(sys_root, "etc", "nv_tegra_release"))
    if release is None:
        return None
    info = {"nv_tegra_release": release.splitlines()[0] if release else "",
            "model": _read(os.path.join(sys_root, "proc", "device-tree", "model"))}  # type: Dict[str, object]
    info["nvpmodel"] = _run(["nvpmodel", "-q"]) if sys_root == "/" else None
    gpu = None
    for folder in sorted(glob.glob(os.path.join(sys_root, "sys", "class", "devfreq", "*"))):
        name = os.path.basename(folder).lower()
        if any(key in name for key in GPU_DEVFREQ_NAMES):
            gpu = _freq_range(folder, "min_freq", "max_freq", "cur_freq")
            if gpu is not None:
                gpu["devfreq"] = os.path.basename(folder)
                break
    info["gpu_clock_hz"] = gpu
    cpus = []
    for folder in sorted(glob.glob(os.path.join(sys_root, "sys", "devices", "system", "cpu", "cpu[0-9]*", "cpufreq"))):
        r = _freq_range(folder, "scaling_min_freq", "scaling_max_freq", "scaling_cur_freq")
        if r is not None:
            r["governor"] = _read(os.path.join(folder, "scaling_governor"))
            cpus.append(r)
    info["cpu_clock_khz"] = cpus[0] if cpus else None
    info["cpu_clocks_all_locked"] = all(c["locked"] for c in cpus) if cpus else None
    emc = _read(os.path.join(sys_root, "sys", "kernel", "debug", "bpmp", "debug", "clk", "emc", "rate"))
    info["emc_rate_hz"] = int(emc) if emc and emc.isdigit() else None  # readable as root only
    known = [v for v in (gpu["locked"] if gpu else None, info["cpu_clocks_all_locked"]) if v is not None]
    info["clocks_locked"] = all(known) if known else None  # None: could not tell
    return info


def detect_device() -> Optional[str]:
    """Which of the estimate devices this machine is, if any."""
    jetson = jetson_info()
    if jetson:
        model = str(jetson.get("model") or "").lower()
        if "xavier nx" in model:
            return "xavier"
        if "orin nx" in model:
            return "orin"
        return "jetson"
    name = (gpu_name() or "").lower()
    if "1080 ti" in name:
        return "1080ti"
    return None


def library_versions() -> Dict[str, Optional[str]]:
    import onnxruntime
    from importlib import metadata

    versions = {"python": platform.python_version(), "numpy": np.__version__,
                "onnxruntime": onnxruntime.__version__}  # type: Dict[str, Optional[str]]
    # Versions from the installed distributions: importing torch here would inflate the
    # peak memory this script reports.
    for key, dists in (("onnx", ["onnx"]), ("opencv", ["opencv-python-headless", "opencv-python"]),
                       ("torch", ["torch"]), ("tensorrt", ["tensorrt"]), ("fassst_rt", ["fassst_rt", "fassst-rt"]),
                       ("scikit-image", ["scikit-image"])):
        versions[key] = None
        for dist in dists:
            try:
                versions[key] = metadata.version(dist)
                break
            except Exception:  # not installed
                continue
    return versions


def load_average() -> Optional[List[float]]:
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def conditions(threads: int, backend_name: str, providers: Sequence[str]) -> Dict[str, object]:
    from fassst_rt import ops

    versions = library_versions()
    build = ops.build_info()
    return {
        "cpu": cpu_model(), "cpu_count": os.cpu_count(), "threads": threads,
        "machine": platform.machine(), "os": platform.platform(),
        "load_average_before": load_average(),
        "gpu": gpu_name(), "jetson": jetson_info(), "backend": backend_name,
        "providers": list(providers), "versions": versions,
        "fassst_rt_build": {k: build[k] for k in ("cuda_built", "cuda_architectures", "gpu_available")},
    }
