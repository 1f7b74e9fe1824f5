"""The user's files: every read of a named file and every write, replacement and removal of an
output goes through here, so a FIFO, a device, a link out of an output directory or a file that
loopmlp did not write is refused in one place (see :func:`read_bytes` and :class:`OutputDir`).

Overwrite protection has one rule: an existing file is replaced or removed only when its content
shows that loopmlp wrote it (or the user forces it where a command offers ``--force``). For an
output directory (``report --out``, ``export --vnnlib``) the proof is the SHA-256 its manifest
records for that file name; for a single output file (``prove --json/--junit``, ``export
--onnx``) it is the signature every such file starts with. Every replacement
is a write to a temporary name and a rename, so a file is never left half written and a
special file (a FIFO, a device) at the target is never opened.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import secrets
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import InputError, InternalError

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_READ_FLAGS = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
               | _O_CLOEXEC)

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISLNK, "a symbolic link"))


def kind(mode: int) -> str:
    """What a file of ``st_mode`` ``mode`` is, for a message (``'a FIFO'``, ...)."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _name(path: str | bytes | os.PathLike[Any]) -> str:
    return os.fsdecode(path)


def _why(e: OSError | ValueError) -> str:
    return (e.strerror if isinstance(e, OSError) and e.strerror else str(e)) or type(e).__name__


# --------------------------------------------------------------------------- reading
def _open_regular(name: str, dir_fd: int | None = None, follow: bool = True) -> int:
    """A descriptor of the regular file ``name``, opened without blocking and re-checked after
    opening (so a FIFO swapped in meanwhile is refused, never waited on). ``OSError`` for a file
    that cannot be opened; ``_NotRegularError`` for one that is not a regular file."""
    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=follow)
    if not stat.S_ISREG(st.st_mode):  # refused before it is opened: opening a device may act
        raise _NotRegularError(st.st_mode)
    fd = os.open(name, _READ_FLAGS | (0 if follow else _O_NOFOLLOW), dir_fd=dir_fd)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise _NotRegularError(mode)
    return fd


class _NotRegularError(Exception):
    def __init__(self, mode: int) -> None:
        super().__init__(kind(mode))
        self.mode = mode

    @property
    def reason(self) -> str:
        if stat.S_ISDIR(self.mode):
            return os.strerror(errno.EISDIR)  # "Is a directory", as open() says
        return f"not a regular file ({kind(self.mode)})"


def _read_fd(fd: int, limit: int) -> bytes:
    """At most ``limit`` bytes from ``fd`` (closed afterwards)."""
    with os.fdopen(fd, "rb") as f:
        return f.read(limit)


def read_bytes(path: str | bytes | os.PathLike[Any], max_bytes: int) -> tuple[str, bytes]:
    """``(name, content)`` of a regular file of at most ``max_bytes``.

    A file that cannot be read (missing, a directory, no permission, a NUL in the path), that is
    not a regular file (a FIFO, a socket, a device: refused before it is opened, so nothing
    blocks) or that is larger than ``max_bytes`` raises :class:`~verify.errors.InputError`
    naming the path. A link is followed: the user named it.
    """
    name = _name(path)
    try:
        raw = _read_fd(_open_regular(name), max_bytes + 1)
    except _NotRegularError as e:
        raise InputError(name, None, f"cannot read file: {e.reason}") from None
    except (OSError, ValueError) as e:  # ValueError: e.g. an embedded NUL in the path
        raise InputError(name, None, f"cannot read file: {_why(e)}") from None
    if len(raw) > max_bytes:
        raise InputError(name, None, f"file larger than {max_bytes} bytes")
    return name, raw


def read_text(path: str | bytes | os.PathLike[Any], max_bytes: int) -> tuple[str, str]:
    """``(name, text)`` of a UTF-8 file of at most ``max_bytes`` (a byte-order mark is dropped).

    Refusals are those of :func:`read_bytes`, and text that is not UTF-8 raises
    :class:`~verify.errors.InputError` with the line and the offset of the first bad byte.
    """
    name, raw = read_bytes(path, max_bytes)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise InputError(
            name, line, f"not UTF-8 text: byte 0x{raw[e.start]:02x} at offset {e.start}"
        ) from None
    return name, text.removeprefix("\ufeff")


# --------------------------------------------------------------------------- single files
def check_replaceable(path: str | os.PathLike[str], owned: bytes | re.Pattern[bytes], what: str,
                      *, force: bool | None = None) -> None:
    """Refuse to write ``path`` where that would destroy something loopmlp did not write.

    A missing file is fine; an existing one is replaced only when it is a regular file whose
    first 4 KiB show that loopmlp wrote it: they contain ``owned`` (a signature) or match it (a
    pattern). A directory, a FIFO or a device is refused without being opened. Checked before
    any work, so a mistyped output path costs nothing and loses nothing. A link is followed
    (the user named it), and :func:`write_file` then replaces the file it points to.

    ``force`` is None for an output that cannot be forced; otherwise the refusal names
    ``--force``, and with ``force`` only a directory is refused.
    """
    name = _name(path)
    forceable = force is not None
    foreign = ("exists and was not written by loopmlp; use --force to replace it" if forceable
               else f"exists and is not a {what} written by loopmlp; not replaced (remove it or "
               "choose another path)")
    try:
        fd = _open_regular(name)
    except _NotRegularError as e:
        if stat.S_ISDIR(e.mode):
            raise InputError(name, None, "is a directory" if forceable else
                             f"is a directory; need a file name for the {what}") from None
        if force:
            return
        raise InputError(name, None, foreign if forceable else
                         f"is {kind(e.mode)}, not a regular file; not replaced (need a file "
                         f"name for the {what})") from None
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return  # nothing there (or a path that cannot exist): the write says why, if it fails
    except OSError as e:
        if force:
            return
        raise InputError(name, None, foreign if forceable else
                         f"cannot read the existing file: {_why(e)}") from None
    try:
        head = _read_fd(fd, 4096)
    except OSError as e:
        if force:
            return
        raise InputError(name, None, foreign if forceable else
                         f"cannot read the existing file: {_why(e)}") from None
    if not force and not _shows(owned, head):
        raise InputError(name, None, foreign)


def written_by_loopmlp(path: str | os.PathLike[str], owned: bytes | re.Pattern[bytes]) -> bool:
    """Whether ``path`` is a regular file whose first 4 KiB show loopmlp wrote it (see
    :func:`check_replaceable`); anything unreadable is not."""
    try:
        return _shows(owned, _read_fd(_open_regular(_name(path)), 4096))
    except (OSError, ValueError, _NotRegularError):
        return False


def _shows(owned: bytes | re.Pattern[bytes], head: bytes) -> bool:
    return owned in head if isinstance(owned, bytes) else owned.match(head) is not None


def _replace_at(folder: int | None, leaf: str, data: bytes) -> None:
    """Write ``data`` to a temporary file in ``folder`` (a descriptor; None: the current
    directory, ``leaf`` then being a path) and rename it to ``leaf``, keeping the permissions of
    the file it replaces. Raises ``OSError``; no temporary file is left behind."""
    head, tail = os.path.split(leaf)
    tmp = os.path.join(head, f".{tail}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC, 0o666,
                  dir_fd=folder)
    try:
        _write_fd(out, data, _mode(leaf, folder))
        os.rename(tmp, leaf, src_dir_fd=folder, dst_dir_fd=folder)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=folder)
        except OSError:
            pass
        raise


def _write_fd(fd: int, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` to ``fd`` (closed afterwards), with permissions ``mode`` when given (those
    of the file being replaced, so a replacement keeps them)."""
    with os.fdopen(fd, "wb") as f:
        if mode is not None:
            os.fchmod(f.fileno(), stat.S_IMODE(mode))
        f.write(data)


def _mode(name: str, dir_fd: int | None = None) -> int | None:
    """Permissions of the regular file at ``name`` (a link not followed), or None."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except (OSError, ValueError):
        return None
    return st.st_mode if stat.S_ISREG(st.st_mode) else None


def _as_bytes(data: str | bytes) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else data


def write_file(path: str | os.PathLike[str], data: str | bytes, *,
               exclusive: bool = False) -> None:
    """Write ``data`` (text is UTF-8) to ``path`` whole or not at all.

    The content goes to a temporary file next to the target and is renamed over it, so a
    failure leaves the old file (or none) and whatever sits at the target (a FIFO, a device) is
    replaced, never opened. A link at ``path`` is followed: the file it points to is replaced.
    With ``exclusive`` an existing file is never replaced (not even one created meanwhile).
    Any failure raises :class:`~verify.errors.InputError` naming ``path``.
    """
    name = _name(path)
    raw = _as_bytes(data)
    try:
        target = os.path.realpath(name) if os.path.islink(name) else name
        if exclusive:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC,
                         0o666)
            try:
                _write_fd(fd, raw)
            except BaseException:
                os.unlink(target)
                raise
            return
        _replace_at(None, target, raw)
    except FileExistsError:
        raise InputError(name, None, "already exists; not replaced") from None
    except (OSError, ValueError) as e:
        raise InputError(name, None, f"cannot write ({_why(e)})") from None


# --------------------------------------------------------------------------- directories
def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``: what a manifest records for a file loopmlp wrote."""
    return hashlib.sha256(data).hexdigest()


_HEX = re.compile(r"[0-9a-f]{64}")
MAX_MANIFEST_BYTES = 1 << 20
"""Largest manifest read (a manifest lists a few dozen files)."""


@dataclass(frozen=True)
class OutputDir:
    """How one command keeps its output directory: the manifest's file name, the file names the
    command writes (a regular expression over paths relative to the directory, ``/`` between
    parts), and how messages name the command and the way out of a refusal.

    :meth:`check` refuses, before any work, what :meth:`write` would refuse; :meth:`write`
    checks again and writes. Both refuse:

    - a path that exists and is not a directory (the directory itself may be a link: the user
      named it), or whose nearest existing ancestor is not a directory;
    - a link or a non-directory anywhere below the directory on the way to a target (never
      followed, even with ``force``);
    - a target that is a directory;
    - without ``force``: a target that exists and is not a regular file whose SHA-256 the
      manifest records for that name; a manifest that is not a regular file or not a manifest
      loopmlp wrote; and, with ``fresh_only``, a non-empty directory without a manifest.

    Files the previous manifest lists that this write does not produce are removed only when
    their content still has the recorded hash (and their name is one the command writes);
    anything else is left where it is and dropped from the manifest.
    """

    manifest: str
    names: re.Pattern[str]
    writer: str
    remedy: str
    fresh_only: bool = False

    def check(self, root: str | os.PathLike[str], names: Iterable[str],
              force: bool = False) -> None:
        """Refuse now what :meth:`write` of files called ``names`` into ``root`` would refuse."""
        root_name = _name(root)
        names = list(names)
        self._check_names(names)
        if not _check_root(root_name):
            return
        with _Dir.open(root_name) as d:
            self._plan(d, names, force)

    def write(self, root: str | os.PathLike[str], files: Mapping[str, str | bytes],
              force: bool = False, meta: Mapping[str, Any] | None = None) -> list[str]:
        """Write ``files`` (relative name -> content) into ``root`` and record them in the
        manifest with their SHA-256 (and ``meta``); returns the paths written."""
        root_name = _name(root)
        data = {n: _as_bytes(c) for n, c in files.items()}
        self._check_names(list(data))
        if not _check_root(root_name):
            try:
                os.makedirs(root_name, exist_ok=True)
            except OSError as e:
                raise InputError(root_name, None, f"cannot create directory ({_why(e)})"
                                 ) from None
        with _Dir.open(root_name) as d:
            known, stale = self._plan(d, list(data), force)
            new = {n: sha256(c) for n, c in data.items()}
            # First the manifest with both the old and the new hash of every name: an
            # interrupted run leaves each file old or new, and either is recognised next time.
            interim = {n: sorted(h) for n, h in known.items()}
            for n, h in new.items():
                interim[n] = sorted(set(interim.get(n, [])) | {h})
            d.replace(self.manifest, self._manifest(interim, meta))
            written = []
            for n, c in data.items():
                d.replace(n, c, create_parents=True)
                written.append(d.path(n))
            for n in stale:
                d.remove_if(n, known[n])
            d.replace(self.manifest, self._manifest(new, meta))
        return written

    # ----------------------------------------------------------------- internals
    def _check_names(self, names: list[str]) -> None:
        bad = [n for n in names if not self.names.fullmatch(n) or n == self.manifest]
        if bad:
            raise InternalError(f"{self.writer}: {bad[0]!r} is not a name it writes")

    def _manifest(self, files: Mapping[str, str | list[str]], meta: Mapping[str, Any] | None
                  ) -> bytes:
        doc: dict[str, Any] = {
            "tool": "loopmlp",
            "written_by": self.writer,
            "about": f"The files `{self.writer}` wrote here, with their SHA-256: it replaces "
                     "or removes a file only while its content has the hash recorded here.",
            "files": {n: files[n] for n in sorted(files)},
        }
        doc.update(meta or {})
        return (json.dumps(doc, indent=2) + "\n").encode()

    def _read_manifest(self, d: _Dir, force: bool) -> dict[str, set[str]] | None:
        """Hashes by name from the manifest (None when there is none)."""
        path = d.path(self.manifest)
        try:
            fd = _open_regular(self.manifest, dir_fd=d.fd, follow=False)
        except FileNotFoundError:
            return None
        except _NotRegularError as e:
            if force:
                return {}
            raise InputError(path, None, f"not a regular file ({kind(e.mode)})") from None
        except OSError as e:
            raise InputError(path, None, f"cannot read ({_why(e)})") from None
        try:
            raw = _read_fd(fd, MAX_MANIFEST_BYTES + 1)
            doc = json.loads(raw.decode("utf-8"))
            files = _parse_manifest(doc) if len(raw) <= MAX_MANIFEST_BYTES else None
        except (OSError, ValueError, RecursionError):
            files = None
        if files is None:
            if force:
                return {}
            raise InputError(path, None, f"not a manifest written by {self.writer} (JSON with "
                             f"the SHA-256 of each file); not replaced: {self.remedy}")
        return {n: h for n, h in files.items() if self.names.fullmatch(n)}

    def _plan(self, d: _Dir, names: list[str], force: bool
              ) -> tuple[dict[str, set[str]], list[str]]:
        """The recorded hashes by name and the stale names; refuses what may not be written."""
        known = self._read_manifest(d, force)
        if known is None and self.fresh_only and not force and d.non_empty():
            raise InputError(d.root, None, f"is a non-empty directory loopmlp did not write; "
                             f"{self.remedy}")
        known = known or {}
        for n in names:
            entry = d.entry(n)
            if entry is None:
                continue
            if stat.S_ISDIR(entry.st_mode):
                raise InputError(d.path(n), None, "is a directory")
            if force:
                continue  # replaced by a rename: never opened, never followed
            if not stat.S_ISREG(entry.st_mode):
                raise InputError(d.path(n), None, f"is {kind(entry.st_mode)}, not a file "
                                 f"{self.writer} wrote; not replaced: {self.remedy}")
            if n not in known or d.hash(n) not in known[n]:
                why = ("not recorded in" if n not in known
                       else "its content differs from what is recorded in")
                raise InputError(d.path(n), None, f"exists and was not written by "
                                 f"{self.writer} ({why} {d.path(self.manifest)}); not "
                                 f"replaced: {self.remedy}")
        stale = sorted(set(known) - set(names))
        return known, stale


def _parse_manifest(doc: Any) -> dict[str, set[str]] | None:
    if not isinstance(doc, dict) or doc.get("tool") != "loopmlp":
        return None
    files = doc.get("files")
    if not isinstance(files, dict):
        return None
    out: dict[str, set[str]] = {}
    for n, h in files.items():
        hashes = [h] if isinstance(h, str) else h
        if not isinstance(hashes, list) or not all(
                isinstance(x, str) and _HEX.fullmatch(x) for x in hashes):
            return None
        out[n] = set(hashes)
    return out


def _check_root(root: str) -> bool:
    """Whether ``root`` exists (as a directory); refuses a path that could not become one."""
    try:
        st = os.stat(root)
    except FileNotFoundError:
        st = None
    except (OSError, ValueError) as e:
        raise InputError(root, None, f"cannot use as a directory ({_why(e)})") from None
    if st is not None:
        if not stat.S_ISDIR(st.st_mode):
            raise InputError(root, None, "exists and is not a directory")
        return True
    if os.path.lexists(root):
        raise InputError(root, None, "is a link to nothing; not followed")
    parent = os.path.dirname(os.path.abspath(root))
    while not os.path.lexists(parent):  # the nearest existing ancestor must be a directory
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise InputError(root, None, f"cannot create directory ({parent} is not a directory)")
    return False


@dataclass
class _Dir:
    """An open output directory: every path below it is reached through descriptors, one part
    at a time, never through a link."""

    root: str
    fd: int
    _subs: dict[str, int] = field(default_factory=dict)

    @classmethod
    def open(cls, root: str) -> _Dir:
        try:
            fd = os.open(root, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
        except OSError as e:
            raise InputError(root, None, f"cannot open directory ({_why(e)})") from None
        return cls(root, fd)

    def __enter__(self) -> _Dir:
        return self

    def __exit__(self, *exc: object) -> None:
        for fd in self._subs.values():
            os.close(fd)
        os.close(self.fd)

    def path(self, rel: str) -> str:
        return os.path.join(self.root, *rel.split("/"))

    def non_empty(self) -> bool:
        with os.scandir(self.fd) as it:
            return any(True for _ in it)

    def _parent(self, rel: str, create: bool) -> tuple[int, str] | None:
        """(descriptor of the folder holding ``rel``, last part); None where a folder on the way
        does not exist and ``create`` is false. A link or a file on the way is refused."""
        *parts, leaf = rel.split("/")
        fd, done = self.fd, ""
        for part in parts:
            done = f"{done}/{part}" if done else part
            if done in self._subs:
                fd = self._subs[done]
                continue
            try:
                st = os.stat(part, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                if not create:
                    return None
                try:
                    os.mkdir(part, dir_fd=fd)
                except OSError as e:
                    raise InputError(self.path(done), None, f"cannot create directory "
                                     f"({_why(e)})") from None
                st = os.stat(part, dir_fd=fd, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                raise InputError(self.path(done), None, "is a symbolic link; loopmlp never "
                                 "writes or removes anything through a link in its output "
                                 "directory")
            if not stat.S_ISDIR(st.st_mode):
                raise InputError(self.path(done), None, f"is {kind(st.st_mode)}, not a "
                                 "directory")
            try:
                sub = os.open(part, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC,
                              dir_fd=fd)
            except OSError as e:
                raise InputError(self.path(done), None, f"cannot open directory ({_why(e)})"
                                 ) from None
            self._subs[done] = fd = sub
        return fd, leaf

    def entry(self, rel: str) -> os.stat_result | None:
        """What is at ``rel`` (a link is not followed), or None."""
        where = self._parent(rel, create=False)
        if where is None:
            return None
        try:
            return os.stat(where[1], dir_fd=where[0], follow_symlinks=False)
        except FileNotFoundError:
            return None
        except OSError as e:
            raise InputError(self.path(rel), None, f"cannot inspect ({_why(e)})") from None

    def hash(self, rel: str) -> str | None:
        """SHA-256 of the regular file at ``rel`` (None for anything else or unreadable)."""
        where = self._parent(rel, create=False)
        if where is None:
            return None
        try:
            fd = _open_regular(where[1], dir_fd=where[0], follow=False)
        except (OSError, _NotRegularError):
            return None
        h = hashlib.sha256()
        with os.fdopen(fd, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()

    def replace(self, rel: str, data: bytes, create_parents: bool = False) -> None:
        """Write ``data`` at ``rel`` through a temporary file and a rename."""
        where = self._parent(rel, create=create_parents)
        if where is None:
            raise InputError(self.path(rel), None, "cannot write (its folder is missing)")
        try:
            _replace_at(*where, data)
        except OSError as e:
            raise InputError(self.path(rel), None, f"cannot write ({_why(e)})") from None

    def remove_if(self, rel: str, hashes: set[str]) -> bool:
        """Remove the regular file at ``rel`` when its SHA-256 is among ``hashes``."""
        try:
            where = self._parent(rel, create=False)
        except InputError:  # a link or a file on the way: nothing below it is touched
            return False
        if where is None or self.hash(rel) not in hashes:
            return False
        try:
            os.unlink(where[1], dir_fd=where[0])
        except OSError:
            return False
        return True
