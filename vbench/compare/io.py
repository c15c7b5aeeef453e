"""Atomic file writes: a reader (or a Ctrl-C) never sees a half-written JSON or Markdown file.

pytest-benchmark writes its JSON in place with ``open(path, "wb")``; an interrupt during the write
leaves a truncated file that the next ``--benchmark-compare`` would read. Here the bytes go to a
temporary file in the same folder first, then ``os.replace`` swaps it in (atomic on POSIX and
Windows). The temporary name starts with a dot and ends in ``.tmp``, so pytest-benchmark's storage
globs (``NNNN_*.json``) never pick it up.
"""

from __future__ import annotations

import os
from pathlib import Path

from vbench.errors import VBenchError

__all__ = ["atomic_write_bytes", "atomic_write_text", "append_text"]


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file + fsync + ``os.replace``); returns the path."""
    path = Path(path)
    if path.is_dir():
        raise VBenchError(f"cannot write {path}: it is a folder")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        _discard(tmp)
        blocking = next((p for p in path.parents if p.exists()), None)
        if blocking is not None and not blocking.is_dir():  # mkdir's "File exists" would not say which
            raise VBenchError(f"cannot write {path}: {blocking} is a file, not a folder") from None
        raise VBenchError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:  # KeyboardInterrupt included: drop the partial temp file, keep the old target
        _discard(tmp)
        raise
    return path


def _discard(tmp: Path) -> None:
    try:
        tmp.unlink(missing_ok=True)
    except OSError:  # its folder does not exist or is not one: nothing was written
        pass


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """:func:`atomic_write_bytes` for UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def append_text(path: str | os.PathLike, text: str) -> None:
    """Append ``text`` to ``path`` (GitHub's step summary file is appended to, by design)."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)
