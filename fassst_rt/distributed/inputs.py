"""What a distributed job reads: the files named by its sources, and the
frames in them.

Sources (as ``fassst-rt segment`` takes them, plus lists and URIs):

- an image or video file;
- a folder: its images and videos, sorted by name (not its sub-folders);
- a ``.txt`` file: a list of sources, one per line (blank lines and lines
  starting with ``#`` skipped; relative paths relative to the list's folder);
- a URI with a scheme (``s3://bucket/prefix``, ``gs://...``, ``abfs://...``):
  the files Ray Data's ``read_binary_files`` finds there (a prefix is listed
  recursively), read by the workers through pyarrow's file systems.

Local paths are read by the workers, not the driver: on a cluster every node
must see them at the same path (a shared file system), or use a URI.

Each file becomes frames: an image one frame (its encoded bytes, decoded by
the segmenting actor), a video one frame per decoded frame (PNG-encoded, which
is lossless, so that every frame row has the same form). A file that cannot be
read becomes one row with its error; a video that fails part-way keeps the
frames before the failure and adds an error row for the rest.
"""

import os
import tempfile
from typing import Any, Dict, List, Tuple

from .. import opencv_io

LIST_SUFFIX = ".txt"

# suffixes a folder or a URI prefix is searched for
FRAME_FILE_SUFFIXES = opencv_io.IMAGE_SUFFIXES + opencv_io.VIDEO_SUFFIXES


def is_uri(source: str) -> bool:
    return "://" in source


def is_video(source: str) -> bool:
    return source.lower().endswith(opencv_io.VIDEO_SUFFIXES)


def expand_sources(sources: List[str]) -> Tuple[List[str], List[str]]:
    """(local files, URIs) named by ``sources``: folders listed, lists read.
    Raises ValueError naming a source that is neither a file, a folder, a
    list nor a URI, or a folder or list that names nothing."""
    if isinstance(sources, str) or not sources:
        raise ValueError("sources must be a non-empty list of paths or URIs, got {!r}".format(sources))
    files, uris = [], []  # type: List[str], List[str]
    for source in sources:
        source = os.fspath(source)
        if is_uri(source):
            uris.append(source)
        elif os.path.isdir(source):
            found = sorted(n for n in os.listdir(source) if n.lower().endswith(FRAME_FILE_SUFFIXES))
            if not found:
                raise ValueError("{}: no images or videos ({}) in this folder".format(
                    source, ", ".join(FRAME_FILE_SUFFIXES)))
            files += [os.path.join(source, n) for n in found]
        elif source.lower().endswith(LIST_SUFFIX):
            listed_files, listed_uris = expand_sources(_read_list(source))
            files += listed_files
            uris += listed_uris
        else:
            files.append(source)  # a missing file becomes an error row, as in `fassst-rt segment`
    return files, uris


def _read_list(path: str) -> List[str]:
    if not os.path.isfile(path):
        raise ValueError("{}: no such list file (a .txt source lists one path or URI per line)".format(path))
    folder = os.path.dirname(path)
    with open(path, encoding="utf-8") as f:
        entries = [line.strip() for line in f]
    entries = [e for e in entries if e and not e.startswith("#")]
    if not entries:
        raise ValueError("{}: the list names no files".format(path))
    return [e if is_uri(e) or os.path.isabs(e) else os.path.join(folder, e) for e in entries]


def _frame(source: str, frame: int, timestamp: float, image: bytes) -> Dict[str, Any]:
    return {"source": source, "frame": int(frame), "timestamp": float(timestamp), "image": image, "error": ""}


def _failed(source: str, frame: int, exc: BaseException) -> Dict[str, Any]:
    message = str(exc) or type(exc).__name__
    if source not in message:
        message = "{}: {}".format(source, message)
    return {"source": source, "frame": int(frame), "timestamp": 0.0, "image": b"", "error": message}


def _read_bytes(path: str) -> bytes:
    if not os.path.exists(path):
        raise FileNotFoundError("{}: no such file".format(path))
    if not os.path.isfile(path):
        raise ValueError("{}: not a regular file, so not an image or a video".format(path))
    with open(path, "rb") as f:
        return f.read()


def frames_of_file(row: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Ray Data ``flat_map`` function: a file row (``path``, and ``bytes``,
    its content, when Ray read them; empty for a local path read here) -> its
    frame rows (``source``, ``frame``, ``timestamp``, ``image`` encoded bytes,
    ``error`` empty or why the frame is missing)."""
    source = str(row["path"])
    data = row.get("bytes") or b""
    try:
        if is_video(source):
            return _video_frames(source, bytes(data))
        return [_frame(source, 0, 0.0, bytes(data) if data else _read_bytes(source))]
    except Exception as exc:  # reported as a row; the job goes on
        return [_failed(source, 0, exc)]


def _video_frames(source: str, data: bytes) -> List[Dict[str, Any]]:
    cv2 = opencv_io._cv2()
    if data:  # read by Ray (a URI): OpenCV opens files, so the bytes go to a temporary one
        handle, path = tempfile.mkstemp(suffix=os.path.splitext(source)[1])
        try:
            with os.fdopen(handle, "wb") as f:
                f.write(data)
            return _decoded_frames(cv2, path, source)
        finally:
            os.remove(path)
    return _decoded_frames(cv2, source, source)


def _decoded_frames(cv2, path: str, source: str) -> List[Dict[str, Any]]:
    capture = opencv_io.open_video(path)
    rows = []  # type: List[Dict[str, Any]]
    try:
        while True:
            try:
                ok, image = capture.read()
            except cv2.error as exc:
                rows.append(_failed(source, len(rows), opencv_io.ImageIOError(
                    "{}: OpenCV could not decode frame {} ({})".format(source, len(rows), exc))))
                break
            if not ok:
                break
            timestamp = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0  # as fassst_rt.sources reads videos
            encoded_ok, encoded = cv2.imencode(".png", image)
            if not encoded_ok:
                rows.append(_failed(source, len(rows), ValueError("frame {} could not be PNG-encoded".format(
                    len(rows)))))
                break
            rows.append(_frame(source, len(rows), timestamp, encoded.tobytes()))
    finally:
        capture.release()
    if not rows:
        rows.append(_failed(source, 0, opencv_io.ImageIOError("{}: no frame could be read".format(source))))
    return rows
