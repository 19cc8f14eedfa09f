"""Writing a run's files safely: atomic text files, CSV that round-trips, space checked and reserved."""

from __future__ import annotations

import csv
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from ..errors import RunFolderError


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask

UMASK = _read_umask()

def write_atomic(path: Path, text: str, *, errors: str = "strict") -> None:
    """Write to a temporary file in the same folder and rename it over `path`."""
    write_atomic_with(path, lambda f: f.write(text.encode("utf-8", errors=errors)))


def write_atomic_with(path: Path, write) -> None:
    """`write(binary_file)` fills a temporary file in the same folder, renamed over `path` once complete:
    a crash, a full disk or a cancel leaves the old file (or none), never half of a new one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~UMASK)  # mkstemp makes 0600; our files are as readable as any other
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def sync(array: np.memmap) -> None:
    """Put the changed pages of a writable memory-mapped array on disk before going on.

    numpy's flush (msync) holds the GIL while the disk works, and every batch syncs its rows: each CPU
    lane, which needs the GIL between the network's layers, waited for the disk (0.23 s of a 12 s run
    here, on a fast disk; a slow or network disk holds them longer).
    On Linux msync(MS_SYNC) is fdatasync of the file's range, so fdatasync of the file, which lets the
    GIL go, does the same; elsewhere msync (Windows needs FlushViewOfFile for a mapped view's pages).
    """
    filename = getattr(array, "filename", None)
    if sys.platform.startswith("linux") and filename:
        try:
            fd = os.open(filename, os.O_RDONLY)
        except OSError:  # the folder was moved or renamed since: msync still reaches the mapping
            pass
        else:
            try:
                os.fdatasync(fd)
                return
            finally:
                os.close(fd)
    array.flush()


def replace_folder(tmp: Path, final: Path) -> None:
    """Put the complete folder `tmp` where `final` is: the old one is renamed aside first and removed
    after, so a reader sees the old folder or the new one, never a half-written one."""
    old = None
    if final.exists():
        old = final.with_name(final.name + f".old-{os.getpid()}")
        os.rename(final, old)
    os.rename(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def csv_writer(buf):
    """csv.writer for files we read back: a field holding \\r or \\n is quoted, so a file name with a
    carriage return cannot split a row (the csv module only quotes the characters of the line ending)."""
    return csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)

def check_space(path: Path, arrays: list[dict], n: int) -> None:
    """Fail with a message before writing, not with a bus error from a memory map on a full disk."""
    need = n * (17 + sum(int(np.prod(e["row_shape"])) * np.dtype(e["dtype"]).itemsize for e in arrays)) + (1 << 20)
    free = shutil.disk_usage(path).free
    if need > free:
        raise RunFolderError(f"Not enough space in {path}: the run needs {need / 1e6:,.1f} MB and "
                             f"{free / 1e6:,.1f} MB are free. Free some space or choose another --out.")

def reserve(path: Path) -> None:
    """Allocate the file's blocks now: a memory map over a sparse file dies (SIGBUS) when the disk fills."""
    if not hasattr(os, "posix_fallocate"):
        return
    with open(path, "r+b") as f:
        try:
            os.posix_fallocate(f.fileno(), 0, os.fstat(f.fileno()).st_size)
        except OSError as exc:
            import errno

            if exc.errno == errno.ENOSPC:
                raise RunFolderError(f"Not enough space in {path.parent} for {path.name} "
                                     f"({os.fstat(f.fileno()).st_size / 1e6:,.1f} MB). Free some space or "
                                     "choose another --out.") from None
            # EOPNOTSUPP, EINVAL: a file system without preallocation; writing still works
