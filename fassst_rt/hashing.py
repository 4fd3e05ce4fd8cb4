"""The sha256 of a file, read in 1 MiB blocks: what ties the files of a model
together (frame graph and tail graph, engines and their sidecar) and pins
downloaded data."""

import hashlib


def sha256_file(path) -> str:
    """Hex sha256 of the file at ``path`` (str or os.PathLike)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
