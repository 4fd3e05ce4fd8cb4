"""Reading and writing images and videos, and opening cameras, with OpenCV (for the
CLI and the examples; OpenCV is imported on first use)."""

import os
from typing import Iterator, Tuple, Union

import numpy as np

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
    if not os.path.isfile(path):
        raise FileNotFoundError("{}: no such image file".format(path))
    cv2 = _cv2()
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError("{}: not an image OpenCV can read".format(path))
    if image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]
    return image


def write_image(path: str, image: np.ndarray) -> None:
    cv2 = _cv2()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if not cv2.imwrite(path, image):
        raise OSError("{}: could not write the image (unknown extension or unwritable)".format(path))


def open_video(source: Union[str, int]):
    """A cv2.VideoCapture on a file or a camera index, checked."""
    cv2 = _cv2()
    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        raise ValueError("{}: cannot open this video or camera".format(source))
    return capture


def frames(capture) -> Iterator[np.ndarray]:
    while True:
        ok, frame = capture.read()
        if not ok:
            return
        yield frame


def video_properties(capture) -> Tuple[float, int]:
    """(frames per second, frame count; 0 when unknown, e.g. a camera)."""
    cv2 = _cv2()
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    return fps, max(count, 0)


def video_writer(path: str, fps: float, width: int, height: int):
    cv2 = _cv2()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise OSError("{}: could not open a video writer".format(path))
    return writer
