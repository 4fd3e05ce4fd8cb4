"""A live window of a stream (``fassst-rt track --show``): the annotated
frame with a readout of the frames per second, the capture-to-result
latency and the frames dropped. OpenCV draws it; the ``opencv-python-headless``
wheel has no GUI, so :func:`require_gui` says so before a stream starts."""

import os
import sys
from typing import List, Optional

import numpy as np

from .opencv_io import _cv2

# keys that close the window: q and Esc
_QUIT_KEYS = (ord("q"), 27)


def gui_problem() -> Optional[str]:
    """Why OpenCV cannot show a window here, or None when it can."""
    cv2 = _cv2()
    gui = ""
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GUI:"):
            gui = line.split(":", 1)[1].strip()
    if not gui or gui.upper() == "NONE":
        return ("this OpenCV ({}) was built without a GUI (opencv-python-headless); install opencv-python "
                "instead of it".format(cv2.__version__))
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display to open a window on (DISPLAY and WAYLAND_DISPLAY are not set)"
    return None


def require_gui(option: str = "--show") -> None:
    """Raises RuntimeError naming ``option`` when no window can be shown."""
    problem = gui_problem()
    if problem is not None:
        raise RuntimeError("{} needs a window, but {}; run without {} (the video, JSON lines and MOT outputs "
                           "do not need one)".format(option, problem, option))


def readout_lines(fps: float, latency_ms: float, dropped: int, latency_mode: bool) -> List[str]:
    """The readout: results per second, the latest capture-to-result
    latency, and (latency mode) the frames dropped so far."""
    lines = ["{:.1f} FPS".format(fps), "latency {:.0f} ms".format(latency_ms)]
    if latency_mode:
        lines.append("{} dropped".format(int(dropped)))
    return lines


def draw_readout(image: np.ndarray, lines: List[str]) -> np.ndarray:
    """A copy of ``image`` (H, W, 3) uint8 with ``lines`` in white on a dark
    box in its top-left corner."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError("image must be an (H, W, 3) uint8 array, got {}".format(
            "{} {}".format(image.dtype, image.shape) if isinstance(image, np.ndarray) else type(image).__name__))
    cv2 = _cv2()
    canvas = np.array(image, copy=True)
    font, scale, thickness, margin = cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1, 4
    sizes = [cv2.getTextSize(line, font, scale, thickness) for line in lines]
    line_height = max((h + base for (_, h), base in sizes), default=0) + margin
    width = max((w for (w, _), _ in sizes), default=0) + 2 * margin
    height = line_height * len(lines) + margin
    box = canvas[:height, :width]
    box[:] = (box.astype(np.uint16) // 4).astype(np.uint8)  # darkened, the frame still visible
    for i, line in enumerate(lines):
        cv2.putText(canvas, line, (margin, (i + 1) * line_height - margin // 2), font, scale, (255, 255, 255),
                    thickness, cv2.LINE_AA)
    return canvas


class LiveWindow:
    """An OpenCV window showing frames as they come; ``show`` returns False
    once the user pressed q or Esc or closed the window."""

    def __init__(self, title: str) -> None:
        require_gui()
        self._cv2 = _cv2()
        self.title = title
        self._cv2.namedWindow(title, self._cv2.WINDOW_NORMAL)

    def show(self, image: np.ndarray) -> bool:
        self._cv2.imshow(self.title, image)
        key = self._cv2.waitKey(1) & 0xFF
        if key in _QUIT_KEYS:
            return False
        return self._cv2.getWindowProperty(self.title, self._cv2.WND_PROP_VISIBLE) >= 1

    def close(self) -> None:
        self._cv2.destroyWindow(self.title)
        self._cv2.waitKey(1)
