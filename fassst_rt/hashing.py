"""The sha256 of a file, read in 1 MiB blocks: what ties the files of a model
together (frame graph and tail graph, engines and their sidecar) and pins
downloaded data."""

import hashlib
import os
import stat

# Larger than any model or data file this project reads (the C++ core's bound too).
MAX_FILE_BYTES = 4 << 30


def sha256_file(path) -> str:
    """Hex sha256 of the file at ``path`` (str or os.PathLike). Only a regular
    file of at most MAX_FILE_BYTES is read: a device, a FIFO or a link to
    /dev/zero is refused at once instead of being read forever."""
    digest = hashlib.sha256()
    # O_NONBLOCK: opening a FIFO must not wait for a writer; its type is checked next.
    fd = os.open(os.fspath(path), os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("{}: must be a regular file, not a device, FIFO or directory".format(path))
        if info.st_size > MAX_FILE_BYTES:
            raise ValueError("{}: is {} bytes, more than the {} a model or data file may have".format(
                path, info.st_size, MAX_FILE_BYTES))
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
