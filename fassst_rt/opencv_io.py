"""Reading and writing images and videos, and opening cameras, with OpenCV (for the
CLI and the examples; OpenCV is imported on first use).

OpenCV's own exception (``cv2.error``) never leaves this module: it becomes an
:class:`ImageIOError` naming the file. Images and videos are written atomically
(fassst_rt/atomic.py): a failed or interrupted write leaves no partial file."""

import os
from typing import Iterator, Optional, Tuple, Union

import numpy as np

from .atomic import AtomicFile, atomic_write_bytes


class ImageIOError(ValueError):
    """An image or video could not be read or written (the message names the file)."""

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


def _cv2():
    try:
        import cv2
    except ImportError:
        raise RuntimeError("reading images and videos needs OpenCV: pip install "
                           "opencv-python-headless (part of fassst_rt[cpu] / [gpu])") from None
    return cv2


def read_image(path: str) -> np.ndarray:
    """An image file as OpenCV gives it: (H, W, 3) BGR uint8, (H, W) grey, or
    16-bit single-channel frames unchanged."""
    if not os.path.exists(path):
        raise FileNotFoundError("{}: no such image file".format(path))
    if not os.path.isfile(path):  # a folder, a FIFO or a device would not be an image (or never end)
        raise ImageIOError("{}: not a regular file, so not an image".format(path))
    cv2 = _cv2()
    return _decoded(cv2, lambda: cv2.imread(path, cv2.IMREAD_UNCHANGED), path)


def decode_image(data: bytes, name: str) -> np.ndarray:
    """The encoded image file ``data`` (its bytes, as read from ``name``) as
    :func:`read_image` gives the file: the same pixels, alpha dropped. For
    readers that fetch bytes themselves (object stores, Ray Data)."""
    cv2 = _cv2()
    buffer = np.frombuffer(data, np.uint8)
    if buffer.size == 0:
        raise ImageIOError("{}: empty file, so not an image".format(name))
    return _decoded(cv2, lambda: cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED), name)


def _decoded(cv2, decode, name: str) -> np.ndarray:
    """What OpenCV's ``decode()`` (imread or imdecode) gives, alpha dropped;
    its failures as ImageIOError naming ``name``."""
    try:
        image = decode()
    except cv2.error as exc:
        raise ImageIOError("{}: OpenCV could not decode this image ({})".format(name, _cv2_message(exc))) from None
    if image is None:
        raise ImageIOError("{}: not an image OpenCV can read".format(name))
    return _without_alpha(image)


def _without_alpha(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]
    return image


def _cv2_message(exc: Exception) -> str:
    """The useful line of a cv2.error ("... error: (-215:Assertion failed) ... in function ...")."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def write_image(path: str, image: np.ndarray) -> None:
    """Encodes ``image`` in the format of ``path``'s extension and writes it
    atomically. Raises ImageIOError (unknown extension, an image OpenCV cannot
    encode) or OSError (an unwritable folder); the target is then untouched."""
    cv2 = _cv2()
    extension = os.path.splitext(path)[1]
    if not extension:
        raise ImageIOError("{}: no file extension, so no image format (use .png or .jpg)".format(path))
    try:
        ok, encoded = cv2.imencode(extension, image)
    except cv2.error as exc:
        raise ImageIOError("{}: OpenCV could not encode this image as {} ({})".format(
            path, extension, _cv2_message(exc))) from None
    if not ok:
        raise ImageIOError("{}: OpenCV could not encode this image as {}".format(path, extension))
    atomic_write_bytes(path, encoded.tobytes())


def open_video(source: Union[str, int]):
    """A cv2.VideoCapture on a file or a camera index, checked."""
    cv2 = _cv2()
    if isinstance(source, str) and not os.path.isfile(source):
        raise FileNotFoundError("{}: no such video file".format(source))
    try:
        capture = cv2.VideoCapture(source)
    except cv2.error as exc:
        raise ImageIOError("{}: OpenCV cannot open this video or camera ({})".format(
            source, _cv2_message(exc))) from None
    if not capture.isOpened():
        raise ImageIOError("{}: cannot open this video or camera".format(source))
    return capture


def frames(capture, source: Union[str, int] = "video") -> Iterator[np.ndarray]:
    """The frames of a capture until it ends. A decoder failure (cv2.error)
    becomes an ImageIOError naming ``source``."""
    cv2 = _cv2()
    while True:
        try:
            ok, frame = capture.read()
        except cv2.error as exc:
            raise ImageIOError("{}: OpenCV could not decode the next frame ({})".format(
                source, _cv2_message(exc))) from None
        if not ok:
            return
        yield frame


def video_properties(capture) -> Tuple[float, int]:
    """(frames per second, frame count; 0 when unknown, e.g. a camera)."""
    cv2 = _cv2()
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    return fps, max(count, 0)


class VideoFileWriter:
    """An mp4v video written to a temporary file beside ``path`` and renamed
    to ``path`` by :meth:`close`; :meth:`discard` (or leaving a ``with`` block
    by an exception) removes it, so ``path`` never holds a partial video."""

    def __init__(self, path: str, fps: float, width: int, height: int) -> None:
        cv2 = _cv2()
        self.path, self.size = path, (int(width), int(height))
        self._file = AtomicFile(path)  # type: Optional[AtomicFile]
        try:
            self._writer = cv2.VideoWriter(self._file.temporary, cv2.VideoWriter_fourcc(*"mp4v"), fps, self.size)
            opened = self._writer.isOpened()
        except cv2.error as exc:
            self.discard()
            raise ImageIOError("{}: OpenCV could not open a video writer ({})".format(
                path, _cv2_message(exc))) from None
        if not opened:
            self.discard()
            raise ImageIOError("{}: could not open a video writer (extension {!r})".format(
                path, os.path.splitext(path)[1]))

    def write(self, frame: np.ndarray) -> None:
        """Appends one (height, width, 3) uint8 BGR frame."""
        if self._file is None:
            raise RuntimeError("{}: the video is already closed".format(self.path))
        shape = getattr(frame, "shape", None)
        if shape is None or tuple(shape[:2]) != (self.size[1], self.size[0]):
            raise ImageIOError("{}: frame of shape {} in a {}x{} video".format(
                self.path, shape, self.size[0], self.size[1]))
        cv2 = _cv2()
        try:
            self._writer.write(frame)
        except cv2.error as exc:
            raise ImageIOError("{}: OpenCV could not write a frame ({})".format(self.path, _cv2_message(exc))) from None

    def close(self) -> None:
        """Finishes the video and puts it at ``path``."""
        if self._file is None:
            return
        self._writer.release()
        target, self._file = self._file, None
        target.commit()

    def discard(self) -> None:
        """Drops the video: ``path`` keeps what it held before."""
        if self._file is None:
            return
        writer = getattr(self, "_writer", None)
        if writer is not None:
            writer.release()
        target, self._file = self._file, None
        target.discard()

    def __enter__(self) -> "VideoFileWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()


def video_writer(path: str, fps: float, width: int, height: int) -> VideoFileWriter:
    """A :class:`VideoFileWriter` (mp4v) for ``path``."""
    return VideoFileWriter(path, fps, width, height)
