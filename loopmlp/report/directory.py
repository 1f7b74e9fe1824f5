"""The report directory: the files a report writes there, recorded with their SHA-256 in a
manifest, so that nothing a report did not write is ever replaced or removed
(:class:`verify.files.OutputDir`)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from verify.files import OutputDir

from .model import PICTURE_NAMES

MANIFEST = ".loopmlp-report"
REPORT_FILES = ("index.html", "report.md", "results.json", "junit.xml")
REPORT_DIR = OutputDir(
    MANIFEST, re.compile("|".join(re.escape(n) for n in REPORT_FILES + PICTURE_NAMES)),
    "`loopmlp report`", "remove it or choose another --out")
"""The report directory: the files a report writes, recorded with their SHA-256 in MANIFEST."""


def check_report_dir(directory: Path, names: Sequence[str]) -> None:
    """Refuse, before any work, a directory the report could not write ``names`` into: see
    :class:`verify.files.OutputDir` (a missing directory is fine: it will be created)."""
    REPORT_DIR.check(directory, names)


def write_report_files(directory: Path, files: Mapping[str, str | bytes]) -> list[Path]:
    """Write ``files`` (name -> content) into ``directory``, never over a file it did not write.

    Every target is checked before anything is written. Files the manifest records from an
    earlier report that this one does not write are removed while their content is what the
    report wrote, so the directory holds one report.
    """
    return [Path(p) for p in REPORT_DIR.write(directory, files)]
