"""Frame sources for streams (``Segmenter.stream``): what a stream reads its
frames from. Each has ``read() -> (frame, timestamp) | None``, ``live``
(frames arrive whether read or not: cameras, network streams) and ``name``.

| source                                   | kind                                   | live |
|------------------------------------------|----------------------------------------|------|
| a folder                                 | its images, sorted by name             | no   |
| an image file                            | one frame                              | no   |
| a video file (anything OpenCV opens)     | every frame, ``.y4m`` included         | no   |
| a named pipe (FIFO) of video             | frames as they are written (``.y4m``)  | yes  |
| an int, ``/dev/videoN``                  | a V4L2 camera                          | yes  |
| ``rtsp://``, ``http(s)://`` URL          | a network stream (OpenCV's FFmpeg)     | yes  |
| ``gst:PIPELINE``                         | a GStreamer pipeline (OpenCV built with GStreamer; the Jetson CSI camera: ``gst:nvarguscamerasrc ! ... ! appsink``) | yes |
| an iterable of NumPy frames              | those frames                           | no   |

Timestamps: a video file's own (its position, seconds), a camera's or a URL's
arrival time, None otherwise (the stream stamps the frame on arrival).

Readers of video files, cameras and URLs: OpenCV (``reader="opencv"``, the
default) or PyAV (``reader="pyav"``, the optional ``[pyav]`` extra: FFmpeg's
decoders through the ``av`` package, for builds of OpenCV without FFmpeg or
codecs OpenCV's build lacks).

Several sources at once (``open_sources``): a list of paths, URLs, camera
indices or source objects; a list of NumPy frames is one source.
"""

import os
import stat
import time
from typing import Any, Iterable, Iterator, List, Optional, Tuple, Union

import numpy as np

from .opencv_io import IMAGE_SUFFIXES, read_image

Frame = Tuple[np.ndarray, Optional[float]]

__all__ = ["open_source", "open_sources", "ImageFiles", "VideoCapture", "PyAVReader", "FrameIterable", "READERS"]

# the readers of video files, cameras and URLs
READERS = ("opencv", "pyav")


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


class PyAVReader:
    """A video file, a URL or a V4L2 camera (``/dev/videoN``) decoded by PyAV
    (FFmpeg), frames converted to BGR as OpenCV gives them."""

    def __init__(self, target: str, live: bool, name: str, format: Optional[str] = None) -> None:
        try:
            import av
        except ImportError:
            raise ImportError("reader='pyav' needs the av package (pip install 'fassst_rt[pyav]')") from None
        try:
            self.container = av.open(target, format=format)
        except (OSError, ValueError, av.FFmpegError) as exc:
            raise ValueError("{}: PyAV cannot open this {} ({})".format(
                name, "stream" if live else "video", exc)) from None
        if not self.container.streams.video:
            self.container.close()
            raise ValueError("{}: holds no video stream".format(name))
        self._frames = self.container.decode(video=0)
        self.live = live
        self.name = name

    def read(self) -> Optional[Frame]:
        if self._frames is None:
            return None
        frame = next(self._frames, None)
        if frame is None:
            return None
        image = frame.to_ndarray(format="bgr24")
        if self.live or frame.time is None:
            return image, time.time() if self.live else None
        return image, float(frame.time)

    def close(self) -> None:
        if self._frames is not None:
            self._frames = None
            self.container.close()


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


def _video(target: Union[int, str], live: bool, name: str, reader: str):
    """A video file, camera or URL through the chosen reader."""
    if reader == "opencv":
        return VideoCapture(target, live=live, name=name)
    if isinstance(target, int):
        target = "/dev/video{}".format(target)
    return PyAVReader(target, live=live, name=name, format="v4l2" if target.startswith("/dev/video") else None)


def open_source(source: Any, reader: str = "opencv"):
    """A source object for ``source`` (see the table above); objects that
    already have ``read()`` are returned as they are. ``reader``: what reads
    video files, cameras and URLs ("opencv" or "pyav"; GStreamer pipelines
    are OpenCV's)."""
    if reader not in READERS:
        raise ValueError("reader must be one of {}, got {!r}".format(", ".join(READERS), reader))
    if hasattr(source, "read") and not isinstance(source, (str, bytes)):
        return source
    if isinstance(source, (int, np.integer)) and not isinstance(source, bool):
        return _video(int(source), True, "camera {}".format(int(source)), reader)
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    if not isinstance(source, str):
        if isinstance(source, (list, tuple)) or hasattr(source, "__iter__"):
            return FrameIterable(source)
        raise TypeError("source must be a path, URL, camera index, 'gst:' pipeline or an iterable of frames, "
                        "got {}".format(type(source).__name__))
    if source.startswith("gst:"):
        if reader != "opencv":
            raise ValueError("{}: GStreamer pipelines are read by OpenCV, not reader={!r}".format(source, reader))
        from .opencv_io import _cv2
        return VideoCapture(source[4:], live=True, name="GStreamer pipeline", api=_cv2().CAP_GSTREAMER)
    if "://" in source:
        return _video(source, True, source.split("@")[-1], reader)
    if source.startswith("/dev/video"):
        return _video(source, True, source, reader)
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
    # a named pipe is fed whether it is read or not (a live feed), a file waits
    return _video(source, is_fifo(source), source, reader)


def is_fifo(path: str) -> bool:
    """Whether ``path`` is a named pipe (FIFO)."""
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


def _is_one_source(item: Any) -> bool:
    """An item of a list that names a source of its own (not a frame)."""
    return (isinstance(item, (str, os.PathLike)) or hasattr(item, "read")
            or (isinstance(item, (int, np.integer)) and not isinstance(item, bool)))


def open_sources(source: Any, reader: str = "opencv") -> List[Any]:
    """The source objects a stream reads: several for a list or tuple of
    sources (paths, URLs, camera indices, objects with ``read()``), else one
    (a list of NumPy frames is one source). Sources opened before one that
    fails are closed again."""
    if not (isinstance(source, (list, tuple)) and source and any(_is_one_source(s) for s in source)):
        return [open_source(source, reader)]
    for i, item in enumerate(source):
        if not _is_one_source(item):
            raise TypeError("sources[{}]: a list of sources holds paths, URLs, camera indices or objects with "
                            "read(), got {} (wrap frames in fassst_rt.sources.FrameIterable)".format(
                                i, type(item).__name__))
    opened = []  # type: List[Any]
    try:
        for item in source:
            opened.append(open_source(item, reader))
    except BaseException:
        for s in opened:
            close = getattr(s, "close", None)
            if close is not None and not any(s is item for item in source):
                close()
        raise
    return opened
