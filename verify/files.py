"""Reading the user's files: one place that turns every way a read can fail into an InputError."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import InputError


def read_text(path: str | bytes | os.PathLike[str], max_bytes: int) -> tuple[str, str]:
    """``(name, text)`` of a UTF-8 file of at most ``max_bytes`` (a byte-order mark is dropped).

    A file that cannot be read (missing, a directory, no permission, a NUL in the path), that is
    larger than ``max_bytes`` or that is not UTF-8 raises :class:`~verify.errors.InputError`
    naming the path (and, for bad UTF-8, the line and the offset of the first bad byte).
    """
    name = os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else str(path)
    try:
        with Path(name).open("rb") as f:
            raw = f.read(max_bytes + 1)
    except OSError as e:
        raise InputError(name, None, f"cannot read file: {e.strerror or e}") from None
    except ValueError as e:  # e.g. an embedded NUL in the path
        raise InputError(name, None, f"cannot read file: {e}") from None
    if len(raw) > max_bytes:
        raise InputError(name, None, f"file larger than {max_bytes} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise InputError(
            name, line, f"not UTF-8 text: byte 0x{raw[e.start]:02x} at offset {e.start}"
        ) from None
    return name, text.removeprefix("\ufeff")


def check_replaceable(path: str | os.PathLike[str], marker: bytes, what: str) -> None:
    """Refuse to write ``path`` where that would destroy something loopmlp did not write.

    A missing file is fine; an existing one is replaced only when its first 4 KiB contain
    ``marker`` (the signature of a ``what`` that loopmlp writes). Checked before any work, so a
    mistyped output path costs nothing and loses nothing.
    """
    p = Path(os.fsdecode(path))
    if p.is_dir():
        raise InputError(str(p), None, "is a directory; need a file name for the " + what)
    if not p.exists():
        return
    try:
        with p.open("rb") as f:
            head = f.read(4096)
    except OSError as e:
        raise InputError(str(p), None, f"cannot read the existing file: {e.strerror or e}"
                         ) from None
    if marker not in head:
        raise InputError(str(p), None, f"exists and is not a {what} written by loopmlp; not "
                         "replaced (remove it or choose another path)")
