"""Writing files so that a reader sees the old file or the new one, never a part.

Every file the project writes goes to a temporary file in the target's folder (the
same file system, so the final ``os.replace`` is atomic), is flushed to disk with
fsync, and is renamed over the target; the folder is synced so the rename survives
a power cut. Any failure before the rename removes the temporary file and leaves
the target as it was. A process killed outright (SIGKILL, power loss) leaves at
most a hidden ``.NAME.tmp-*`` file beside the target, never a truncated target.

- :func:`atomic_write_bytes`, :func:`atomic_write_text`: data already in memory.
- :func:`atomic_path`: a temporary path for writers that want a file name
  (``torch.onnx.export``, ``onnx.save``, ``cv2.VideoWriter``, savefig); it keeps
  the target's extension, so writers that choose a format by extension work.
- :func:`atomic_open`: a file object, for ``json.dump`` and other streams.
- :func:`staged_files`: several files of one folder that belong together (an
  exported model's graphs), written into a private staging folder and renamed
  into place in a given order only when all are complete.
- :func:`staged_folder`: a whole folder (a Triton model repository entry, the
  files Ray's writers make), written under a private name beside its target and
  renamed into place when complete.
- :func:`remove_stale_temporaries`: what killed writers left, for a folder one
  program owns (the data cache).

Standard library only; Python 3.8.
"""

import contextlib
import os
import shutil
import tempfile
from typing import IO, Iterator, List, Sequence, Union

PathLike = Union[str, "os.PathLike[str]"]

_TEMP_MARK = ".tmp-"


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: str) -> None:
    """Makes the renames in ``folder`` durable; a no-op where folders cannot be
    opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def _reserve_temporary(path: str) -> str:
    """Creates an empty hidden file beside ``path`` with the same extension and
    returns its name. Created with O_EXCL and mode 0o666 (less the umask), so the
    final file gets the permissions a plain ``open(path, "w")`` would give it."""
    folder, name = os.path.split(os.path.abspath(path))
    extension = os.path.splitext(name)[1]
    for _ in range(100):
        candidate = os.path.join(folder, "." + name + _TEMP_MARK + os.urandom(4).hex()
                                 + extension)
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return candidate
    raise FileExistsError("{}: could not create a temporary file beside it".format(path))


def _check_target(path: str) -> str:
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError("{}: is a folder; a file path was expected".format(path))
    return path


class AtomicFile:
    """A temporary file beside ``path`` (same extension; created empty) that
    :meth:`commit` syncs and renames to ``path`` and :meth:`discard` removes.
    For writers that stay open across calls (a video writer); otherwise use
    :func:`atomic_path`. ``make_folder``: create ``path``'s folder first."""

    def __init__(self, path: PathLike, make_folder: bool = True) -> None:
        self.path = _check_target(path)
        self._folder = os.path.dirname(os.path.abspath(self.path))
        if make_folder:
            os.makedirs(self._folder, exist_ok=True)
        self.temporary = _reserve_temporary(self.path)
        self._done = False

    def commit(self) -> None:
        if self._done:
            raise RuntimeError("{}: already committed or discarded".format(self.path))
        try:
            _fsync_file(self.temporary)
            os.replace(self.temporary, self.path)
        except BaseException:
            self.discard()
            raise
        self._done = True
        _fsync_folder(self._folder)

    def discard(self) -> None:
        if not self._done:
            self._done = True
            _remove_quietly(self.temporary)


@contextlib.contextmanager
def atomic_path(path: PathLike, make_folder: bool = True) -> Iterator[str]:
    """Yields a temporary file name beside ``path`` (same extension; the file
    exists, empty) for the caller to write; on a normal exit the file is synced
    and renamed to ``path``, on an exception it is removed and ``path`` is left
    as it was. ``make_folder``: create ``path``'s folder first."""
    target = AtomicFile(path, make_folder)
    try:
        yield target.temporary
    except BaseException:
        target.discard()
        raise
    target.commit()


@contextlib.contextmanager
def atomic_open(path: PathLike, mode: str = "w", encoding: str = "utf-8",
                make_folder: bool = True) -> Iterator[IO]:
    """``open(path, mode)`` whose content appears at ``path`` only when the
    ``with`` block ends without an exception. ``mode``: "w" (text) or "wb"."""
    if mode not in ("w", "wb"):
        raise ValueError("atomic_open: mode must be 'w' or 'wb', got {!r}".format(mode))
    with atomic_path(path, make_folder) as temporary:
        if mode == "wb":
            with open(temporary, "wb") as f:
                yield f
        else:
            with open(temporary, "w", encoding=encoding) as f:
                yield f


def atomic_write_bytes(path: PathLike, data: bytes, make_folder: bool = True) -> None:
    """Writes ``data`` to ``path`` atomically (see the module's description)."""
    with atomic_open(path, "wb", make_folder=make_folder) as f:
        f.write(data)


def atomic_write_text(path: PathLike, text: str, encoding: str = "utf-8", make_folder: bool = True) -> None:
    """Writes ``text`` to ``path`` atomically (see the module's description)."""
    with atomic_open(path, "w", encoding=encoding, make_folder=make_folder) as f:
        f.write(text)


def atomic_copy(source: PathLike, path: PathLike, make_folder: bool = True) -> None:
    """Copies the file ``source`` to ``path`` atomically."""
    with atomic_path(path, make_folder) as temporary:
        shutil.copyfile(os.fspath(source), temporary)


def move_into_place(source: PathLike, path: PathLike) -> None:
    """Renames the complete file ``source`` (on ``path``'s file system, e.g.
    a download in a scratch folder beside it) to ``path``, synced before and after."""
    source, path = os.fspath(source), _check_target(path)
    _fsync_file(source)
    os.replace(source, path)
    _fsync_folder(os.path.dirname(os.path.abspath(path)))


def is_temporary(name: str) -> bool:
    """Whether a file name is one of this module's temporary files."""
    return name.startswith(".") and _TEMP_MARK in name


def remove_stale_temporaries(folder: PathLike) -> int:
    """Removes the temporary files (and staging folders) that killed writers
    left in ``folder``; returns how many. Only for a folder the caller alone
    writes to: another writer's temporary file would be removed too."""
    removed = 0
    try:
        names = os.listdir(os.fspath(folder))
    except FileNotFoundError:
        return 0
    for name in names:
        if is_temporary(name):
            path = os.path.join(os.fspath(folder), name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                _remove_quietly(path)
            removed += 1
    return removed


@contextlib.contextmanager
def staged_files(paths: Sequence[PathLike], make_folder: bool = True) -> Iterator[List[str]]:
    """Several files that belong together, written at once. Yields, for each
    of ``paths`` (all in one folder), the same file name inside a private
    staging folder beside them, so that names derived from one another (NAME.onnx
    -> NAME.tail.onnx) still match. On a normal exit every staged file must exist;
    they are synced and renamed into place in the order given (put the file that
    readers open first, and that vouches for the others, last). On an exception,
    or when a file is missing, nothing is renamed and the staging folder is
    removed with everything in it."""
    targets = [_check_target(p) for p in paths]
    if not targets:
        raise ValueError("staged_files: no paths given")
    folders = {os.path.dirname(os.path.abspath(p)) for p in targets}
    if len(folders) != 1:
        raise ValueError("staged_files: the paths must share one folder, got {}".format(", ".join(targets)))
    names = [os.path.basename(p) for p in targets]
    if len(set(names)) != len(names):
        raise ValueError("staged_files: a path is given twice: {}".format(", ".join(targets)))
    folder = folders.pop()
    if make_folder:
        os.makedirs(folder, exist_ok=True)
    staging = tempfile.mkdtemp(prefix="." + names[-1] + _TEMP_MARK, dir=folder)
    try:
        staged = [os.path.join(staging, name) for name in names]
        yield staged
        missing = [p for p in staged if not os.path.isfile(p)]
        if missing:
            raise FileNotFoundError("staged_files: the writer did not produce {}".format(
                ", ".join(os.path.basename(p) for p in missing)))
        for p in staged:
            _fsync_file(p)
        for p, target in zip(staged, targets):
            os.replace(p, target)
        _fsync_folder(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def staged_folder(path: PathLike) -> Iterator[str]:
    """A folder written as a whole. Yields a private, empty staging folder
    beside ``path`` (same file system) for the caller to fill; on a normal
    exit it gets the permissions a new folder would and replaces ``path``: a
    previous ``path`` is renamed aside first and removed after, so a reader
    sees the old folder or the new one (between the two renames, none). On an
    exception the staging folder is removed and ``path`` is left as it was."""
    target = os.path.abspath(os.fspath(path))
    if os.path.exists(target) and not os.path.isdir(target):
        raise NotADirectoryError("{}: is a file; a folder path was expected".format(target))
    parent, name = os.path.split(target)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix="." + name + _TEMP_MARK, dir=parent)
    try:
        yield staging
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)  # mkdtemp's folder is private
        old = None
        if os.path.lexists(target):
            old = tempfile.mkdtemp(prefix="." + name + _TEMP_MARK, dir=parent)
            os.rmdir(old)
            os.replace(target, old)
        os.replace(staging, target)
        _fsync_folder(parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
