"""Writing files so that a reader sees the old file or the complete new one,
never a half-written one: the data goes to a temporary file in the same
folder (same file system, so the rename is atomic), is flushed to disk, and
is renamed over the destination. A failure removes the temporary file.

Plain Python (os, tempfile): importable anywhere the inference path is.
"""

import contextlib
import os
import tempfile
from typing import Iterator


@contextlib.contextmanager
def replacing(path: str) -> Iterator[str]:
    """A temporary path beside ``path`` to write; renamed over ``path`` when
    the block ends without an exception, removed when it raises.

        with replacing("model.onnx") as tmp:
            onnx.save(model, tmp)
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    # A unique name: two writers of the same file never share a temporary.
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it 0600; a new file gets the usual mode
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: str, data: bytes) -> None:
    """``data`` to ``path``, atomically (see the module docstring)."""
    with replacing(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
