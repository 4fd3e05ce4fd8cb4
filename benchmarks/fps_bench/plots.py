"""FPS vs K and vs input size as a PNG: matplotlib when installed, else OpenCV
(always there: fassst_rt's cpu/gpu extras)."""

import os
from typing import Dict, List, Optional

import numpy as np

from fassst_rt.atomic import atomic_path
from fassst_rt.opencv_io import write_image


def plot_panels(res: Dict[str, object]) -> List[Dict[str, object]]:
    """What --plot draws: FPS against K, and against the input size when that sweep ran."""
    sw = res["sweeps"]
    panels = []
    rows = sw.get("instances") or []
    if rows:
        panels.append({"title": "FPS vs K: {} @ {} (whole frame)".format(os.path.basename(res["model"]["path"]),
                                                                          res["settings"]["input_size"]),
                       "xlabel": "instances K (forced: threshold 0, NMS off)", "ylabel": "FPS (median)",
                       "x": [r["instances"] for r in rows], "y": [r["fps"] for r in rows],
                       "hline": 1e3 / res["target"]["budget_ms"],
                       "hline_label": ("budget {:.0f} ms ({}, measured)".format(
                           res["target"]["budget_ms"], res["target"]["budget_source"].split(": ")[-1].split(" ")[0])
                           if "measured in this run" in res["target"]["budget_source"]
                           else "budget {:.0f} ms (not measured)".format(res["target"]["budget_ms"]))})
    rows = sw.get("input_size") or []
    if rows:
        panels.append({"title": "FPS vs input size ({}, K = {})".format(sw.get("input_size_arch", "?"),
                                                                       res["settings"]["instances"]),
                       "xlabel": "input size (px)", "ylabel": "FPS (median)",
                       "x": [r["input_size"] for r in rows], "y": [r["fps"] for r in rows]})
    return panels


def plot_caption(res: Dict[str, object]) -> str:
    c = res["conditions"]
    load = c.get("load_average_before") or [float("nan")]
    return "{} | {} threads | onnxruntime {} | load avg {:.1f} | random weights time like trained ones".format(
        c["cpu"], c["threads"], c["versions"]["onnxruntime"], load[0])


def plot(res: Dict[str, object], path: str) -> Optional[str]:
    """Draws plot_panels(res) at ``path``; None, or why nothing was drawn."""
    panels = plot_panels(res)
    if not panels:
        return "nothing to plot (no sweep ran)"
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return plot_opencv(panels, plot_caption(res), path)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    for ax, p in zip(axes[0], panels):
        ax.plot(p["x"], p["y"], "o-")
        if "hline" in p:
            ax.axhline(p["hline"], color="grey", ls="--", lw=1, label=p["hline_label"])
            ax.legend()
        ax.set_xlabel(p["xlabel"])
        ax.set_ylabel(p["ylabel"])
        ax.set_title(p["title"], fontsize=9)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    fig.suptitle(plot_caption(res), fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as temporary:  # same extension: savefig picks the format from it
        fig.savefig(temporary, dpi=90)
    plt.close(fig)
    return None


def _nice_ticks(lo: float, hi: float, n: int = 5) -> List[float]:
    span = max(hi - lo, 1e-9)
    raw = span / n
    mag = 10 ** int(np.floor(np.log10(raw)))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    start = np.ceil(lo / step) * step
    return [float(v) for v in np.arange(start, hi + step * 0.001, step)]


def plot_opencv(panels: List[Dict[str, object]], caption: str, path: str) -> Optional[str]:
    try:
        import cv2
    except ImportError:
        return "--plot needs matplotlib or OpenCV; no picture written"
    w, h = 520, 380
    left, right, top, bottom = 62, 18, 46, 52
    img = np.full((h + 24, w * len(panels), 3), 255, np.uint8)
    font, black, grey, blue = cv2.FONT_HERSHEY_SIMPLEX, (0, 0, 0), (170, 170, 170), (180, 90, 20)
    for i, p in enumerate(panels):
        x0, x1, y0, y1 = i * w + left, (i + 1) * w - right, top, h - bottom
        xs, ys = [float(v) for v in p["x"]], [float(v) for v in p["y"]]
        ymax = max(ys + [p.get("hline", 0.0)]) * 1.1
        xlo, xhi = min(xs), max(xs)
        if xhi == xlo:
            xhi = xlo + 1

        def px(x, y):
            return (int(round(x0 + (x - xlo) / (xhi - xlo) * (x1 - x0))), int(round(y1 - y / ymax * (y1 - y0))))

        for t in _nice_ticks(0, ymax):
            yy = px(xlo, t)[1]
            cv2.line(img, (x0, yy), (x1, yy), (235, 235, 235), 1)
            cv2.putText(img, "{:g}".format(t), (x0 - 44, yy + 4), font, 0.4, black, 1, cv2.LINE_AA)
        for t in _nice_ticks(xlo, xhi, 6):
            xx = px(t, 0)[0]
            cv2.line(img, (xx, y1), (xx, y1 + 4), black, 1)
            cv2.putText(img, "{:g}".format(t), (xx - 10, y1 + 18), font, 0.4, black, 1, cv2.LINE_AA)
        cv2.rectangle(img, (x0, y0), (x1, y1), black, 1)
        if "hline" in p:
            yy = px(xlo, p["hline"])[1]
            for xx in range(x0, x1, 10):
                cv2.line(img, (xx, yy), (min(xx + 5, x1), yy), grey, 1)
            cv2.putText(img, p["hline_label"], (x0 + 8, yy - 5), font, 0.4, (120, 120, 120), 1, cv2.LINE_AA)
        pts = [px(x, y) for x, y in zip(xs, ys)]
        for a, b in zip(pts, pts[1:]):
            cv2.line(img, a, b, blue, 2, cv2.LINE_AA)
        for q in pts:
            cv2.circle(img, q, 4, blue, -1, cv2.LINE_AA)
        cv2.putText(img, p["title"][:70], (i * w + 8, 20), font, 0.45, black, 1, cv2.LINE_AA)
        cv2.putText(img, p["xlabel"], (x0, h - 14), font, 0.42, black, 1, cv2.LINE_AA)
        cv2.putText(img, p["ylabel"], (i * w + 4, y0 - 6), font, 0.4, black, 1, cv2.LINE_AA)
    cv2.putText(img, caption[:150], (6, h + 14), font, 0.38, (60, 60, 60), 1, cv2.LINE_AA)
    try:
        write_image(path, img)
    except (OSError, ValueError) as exc:
        return "could not write {}: {}".format(path, exc)
    return None

