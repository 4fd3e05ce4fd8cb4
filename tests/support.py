"""Helpers several test files import (a module of their own: tests/conftest.py
and tests/train/conftest.py are both importable as `conftest`, so helpers
there would be found by luck of collection order)."""

import os
import time
import zlib


def subprocess_env():
    """os.environ with the folder holding the imported package first on
    PYTHONPATH: the checkout of an editable install, or the site-packages of
    an installed wheel (whose checkout has no compiled core)."""
    import fassst_rt
    parent = os.path.dirname(os.path.dirname(os.path.abspath(fassst_rt.__file__)))
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (parent, os.environ.get("PYTHONPATH")) if p))


def huge_png_header(path):
    """A valid PNG signature and header claiming 100000 x 100000 pixels: OpenCV
    raises cv2.error (CV_IO_MAX_IMAGE_PIXELS) instead of returning None."""
    import struct

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + chunk(b"IEND", b""))


class ExplodingSource:
    """A file-like frame source (a stream's Python source) that raises after
    `after` frames, as a camera that falls off."""
    live = False
    name = "exploding"

    def __init__(self, frames, after):
        self.frames, self.after, self.count = frames, after, 0

    def read(self):
        if self.count == self.after:
            raise OSError("the camera fell off")
        self.count += 1
        return self.frames[self.count - 1], None


class StallingSource:
    """A live camera that delivers one frame, then stalls for `stall_s`
    seconds on every read; after the stall it delivers the frame again, or
    ends when `ends_after_stall`."""
    live = True
    name = "stalling camera"

    def __init__(self, frame, stall_s, ends_after_stall=False):
        self.frame, self.stall_s, self.ends_after_stall, self.count = frame, stall_s, ends_after_stall, 0

    def read(self):
        self.count += 1
        if self.count > 1:
            time.sleep(self.stall_s)
            if self.ends_after_stall:
                return None
        return self.frame, time.time()
