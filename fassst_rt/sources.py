"""Frame sources for streams (``Segmenter.stream``): what a stream reads its
frames from. Each has ``read() -> (frame, timestamp) | None``, ``live``
(frames arrive whether read or not: cameras, network streams) and ``name``.

| source                                   | kind                                   | live |
|------------------------------------------|----------------------------------------|------|
| a folder                                 | its images, sorted by name             | no   |
| an image file                            | one frame                              | no   |
| a video file (anything OpenCV opens)     | every frame, ``.y4m`` included         | no   |
| an int, ``/dev/videoN``                  | a V4L2 camera                          | yes  |
| ``rtsp://``, ``http(s)://`` URL          | a network stream (OpenCV's FFmpeg)     | yes  |
| ``gst:PIPELINE``                         | a GStreamer pipeline (OpenCV built with GStreamer; the Jetson CSI camera: ``gst:nvarguscamerasrc ! ... ! appsink``) | yes |
| an iterable of NumPy frames              | those frames                           | no   |

Timestamps: a video file's own (its position, seconds), a camera's or a URL's
arrival time, None otherwise (the stream stamps the frame on arrival).
"""

import os
import time
from typing import Any, Iterable, Iterator, List, Optional, Tuple, Union

import numpy as np

from .opencv_io import IMAGE_SUFFIXES, read_image

Frame = Tuple[np.ndarray, Optional[float]]

__all__ = ["open_source", "ImageFiles", "VideoCapture", "FrameIterable"]


class ImageFiles:
    """Image files read in order; an unreadable file ends the stream with an
    error naming it."""

    live = False

    def __init__(self, paths: List[str], name: str) -> None:
        self.paths = list(paths)
        self.name = name
        self._next = 0

    def read(self) -> Optional[Frame]:
        if self._next >= len(self.paths):
            return None
        path = self.paths[self._next]
        self._next += 1
        return read_image(path), None


class VideoCapture:
    """An OpenCV capture: a video file, a camera, a URL or a GStreamer pipeline."""

    def __init__(self, target: Union[int, str], live: bool, name: str, api: Optional[int] = None) -> None:
        from .opencv_io import _cv2
        cv2 = _cv2()
        self._cv2 = cv2
        capture = cv2.VideoCapture(target) if api is None else cv2.VideoCapture(target, api)
        if not capture.isOpened():
            raise ValueError("{}: OpenCV cannot open this {}".format(name, "stream" if live else "video"))
        self.capture = capture
        self.live = live
        self.name = name

    def read(self) -> Optional[Frame]:
        if self.capture is None:
            return None
        ok, frame = self.capture.read()
        if not ok:
            return None
        stamp = time.time() if self.live else self.capture.get(self._cv2.CAP_PROP_POS_MSEC) / 1000.0
        return frame, float(stamp)

    def close(self) -> None:
        if self.capture is not None:
            self.capture.release()
            self.capture = None


class FrameIterable:
    """Frames from any Python iterable of NumPy arrays (or (frame, timestamp) pairs)."""

    live = False

    def __init__(self, frames: Iterable[Any], name: str = "frames") -> None:
        self._it = iter(frames)  # type: Iterator[Any]
        self.name = name

    def read(self) -> Optional[Frame]:
        item = next(self._it, None)
        if item is None:
            return None
        if isinstance(item, tuple):
            return item[0], item[1]
        return item, None


def open_source(source: Any):
    """A source object for ``source`` (see the table above); objects that
    already have ``read()`` are returned as they are."""
    if hasattr(source, "read") and not isinstance(source, (str, bytes)):
        return source
    if isinstance(source, (int, np.integer)) and not isinstance(source, bool):
        return VideoCapture(int(source), live=True, name="camera {}".format(int(source)))
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    if not isinstance(source, str):
        if isinstance(source, (list, tuple)) or hasattr(source, "__iter__"):
            return FrameIterable(source)
        raise TypeError("source must be a path, URL, camera index, 'gst:' pipeline or an iterable of frames, "
                        "got {}".format(type(source).__name__))
    if source.startswith("gst:"):
        from .opencv_io import _cv2
        return VideoCapture(source[4:], live=True, name="GStreamer pipeline", api=_cv2().CAP_GSTREAMER)
    if "://" in source:
        return VideoCapture(source, live=True, name=source.split("@")[-1])
    if source.startswith("/dev/video"):
        return VideoCapture(source, live=True, name=source)
    if os.path.isdir(source):
        paths = sorted(os.path.join(source, f) for f in os.listdir(source)
                       if f.lower().endswith(IMAGE_SUFFIXES))
        if not paths:
            raise ValueError("{}: the folder holds no images ({})".format(source, ", ".join(IMAGE_SUFFIXES)))
        return ImageFiles(paths, source)
    if not os.path.exists(source):
        raise FileNotFoundError("{}: no such file, folder or camera".format(source))
    if source.lower().endswith(IMAGE_SUFFIXES):
        return ImageFiles([source], source)
    return VideoCapture(source, live=False, name=source)
