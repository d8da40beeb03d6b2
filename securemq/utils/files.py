"""Writing secrets and certificates to disk without a moment of exposure.

Files are created by ``open`` with ``O_CREAT | O_EXCL`` (and ``O_NOFOLLOW``), so the
mode holds from the first instant and nothing already at the path, not even a symbolic
link planted by someone else, is followed or overwritten. Replacing goes through a new
hidden file in the same directory renamed over the target, so readers see the old file
or the new one, never half of one.
"""

from __future__ import annotations

import errno
import os
import secrets

__all__ = ["create_exclusive", "fsync_dir", "replace_files", "unlink_quietly", "write_temp"]

_EXCLUSIVE = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
              | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))


def create_exclusive(path: str, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode`` (narrowed by the umask), write ``data`` and flush it
    to disk; remove the file again if writing fails.

    Raises:
        FileExistsError: something is already at ``path``.
        OSError: the file cannot be created or written.
    """
    fd = os.open(path, _EXCLUSIVE, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        unlink_quietly(path)
        raise
    os.close(fd)


def write_temp(path: str, data: bytes, mode: int) -> str:
    """Write ``data`` to a new hidden ``.tmp`` file next to ``path``; return its name.

    Raises:
        OSError: as :func:`create_exclusive` (FileExistsError if no free name is found).
    """
    directory, base = os.path.split(path)
    for _ in range(16):
        temp = os.path.join(directory, f".{base}.{secrets.token_hex(8)}.tmp")
        try:
            create_exclusive(temp, data, mode)
        except FileExistsError:
            continue  # a name collision: draw another
        return temp
    raise FileExistsError(errno.EEXIST, "cannot create a temporary file", path)


def replace_files(files: tuple[tuple[str, bytes, int], ...]) -> None:
    """Write each (path, data, mode) to a temporary file, then rename each over its path.

    Every temporary file is complete before the first rename, so a failure while writing
    leaves the old files untouched; each rename replaces its file atomically.

    Raises:
        OSError: a file cannot be written or renamed; no temporary file is left behind.
    """
    temps: list[tuple[str, str]] = []
    try:
        for path, data, mode in files:
            temps.append((write_temp(path, data, mode), path))
        for temp, path in temps:
            os.replace(temp, path)
    except BaseException:
        for temp, _ in temps:
            unlink_quietly(temp)
        raise
    for directory in {os.path.dirname(path) for path, _, _ in files}:
        fsync_dir(directory)


def fsync_dir(directory: str) -> None:
    """Make new directory entries durable, where the platform allows it (best effort)."""
    try:
        fd = os.open(directory or ".", os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def unlink_quietly(path: str) -> None:
    """Remove a file we created, ignoring a failure: the original error matters more."""
    try:
        os.unlink(path)
    except OSError:
        pass
