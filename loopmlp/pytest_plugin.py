"""The pytest plugin: ``pytest --loopmlp`` collects registered obligations as test items.

A proved obligation passes; a refuted one fails with its replayed counterexample; an unknown one
fails too (as ``loopmlp prove`` exits 3), unless ``--loopmlp-unknown skip``. Nothing happens
without ``--loopmlp``, so installing loopmlp changes no other test run; for the same reason
the kernel is imported inside the hooks, only when the flag is given.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_ENABLE = "--loopmlp"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("loopmlp", "loopmlp obligations as tests")
    group.addoption(_ENABLE, action="store_true", default=False,
                    help="collect the registered loopmlp obligations (and those of "
                    "--loopmlp-module / loopmlp_modules) as test items")
    group.addoption("--loopmlp-only", action="append", metavar="PATTERN", default=None,
                    help="glob over obligation names (repeatable), as `loopmlp prove --only`")
    group.addoption("--loopmlp-all", action="store_true", default=False,
                    help="collect the obligations marked slow too (they carry the `slow` mark)")
    group.addoption("--loopmlp-module", action="append", metavar="MODULE", default=None,
                    help="a module of your own whose entries() registers obligations: a "
                    "dotted name or a path to a .py file (repeatable)")
    group.addoption("--loopmlp-builtin", choices=("auto", "yes", "no"), default="auto",
                    help="also collect loopmlp's own registered obligations (default auto: "
                    "only when no module of yours is configured)")
    group.addoption("--loopmlp-method", default="auto", metavar="METHOD",
                    help="checking method, as `loopmlp prove --method` (default auto)")
    group.addoption("--loopmlp-timeout", type=float, default=60.0, metavar="S",
                    help="seconds per obligation for the solver (default 60)")
    group.addoption("--loopmlp-unknown", choices=("fail", "skip"), default="fail",
                    help="what an UNKNOWN verdict is: a failure (default) or a skip")
    parser.addini("loopmlp_modules", type="linelist", default=[],
                  help="modules (dotted names or .py paths, relative to the rootdir) whose "
                  "entries() registers obligations for `pytest --loopmlp`")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: long proofs; deselect with -m 'not slow'")
    config.addinivalue_line("markers", "loopmlp: a loopmlp obligation collected by --loopmlp")
    if config.getoption(_ENABLE):
        from loopmlp.cli.args import check_timeout
        from verify.errors import LoopmlpError
        from verify.methods import METHODS

        method = config.getoption("--loopmlp-method")
        if method not in METHODS:
            raise pytest.UsageError(f"--loopmlp-method {method!r}: choose from "
                                    f"{', '.join(METHODS)}")
        try:
            check_timeout("--loopmlp-timeout", config.getoption("--loopmlp-timeout"))
        except LoopmlpError as e:
            raise pytest.UsageError(str(e)) from None


def _user_modules(config: pytest.Config) -> list[str]:
    return [*config.getini("loopmlp_modules"), *(config.getoption("--loopmlp-module") or [])]


def _load(spec: str, root: Path) -> Any:
    """A user's obligation module, from a dotted name or a path to a ``.py`` file."""
    if spec.endswith(".py") or os.sep in spec or "/" in spec:
        path = Path(spec)
        if not path.is_absolute():
            path = root / path
        if not path.is_file():
            raise pytest.UsageError(f"--loopmlp-module {spec}: no such file ({path})")
        name = "loopmlp_user_" + "_".join(path.with_suffix("").parts[-2:]).replace("-", "_")
        loader = importlib.util.spec_from_file_location(name, path)
        if loader is None or loader.loader is None:
            raise pytest.UsageError(f"--loopmlp-module {spec}: cannot load {path}")
        module = importlib.util.module_from_spec(loader)
        sys.modules[name] = module
        loader.loader.exec_module(module)
        return module
    return importlib.import_module(spec)


def _entries(config: pytest.Config) -> list[Any]:
    from proofs.registry import all_entries, select

    builtin = config.getoption("--loopmlp-builtin")
    if builtin == "auto":
        builtin = "no" if _user_modules(config) else "yes"
    entries = list(all_entries()) if builtin == "yes" else []
    seen = {e.name for e in entries}
    for spec in _user_modules(config):
        module = _load(spec, config.rootpath)
        make = getattr(module, "entries", None)
        if not callable(make):
            raise pytest.UsageError(f"--loopmlp-module {spec}: defines no entries() function "
                                    "returning registry entries (see docs/ci.md)")
        for entry in make():
            if entry.name in seen:
                raise pytest.UsageError(f"--loopmlp-module {spec}: obligation {entry.name!r} "
                                        "is registered twice")
            seen.add(entry.name)
            entries.append(entry)
    return select(entries, config.getoption("--loopmlp-only"), config.getoption("--loopmlp-all"))


class ObligationNotProvedError(Exception):
    """An obligation that was not proved: the message is ``loopmlp prove``'s line for it."""


class ObligationItem(pytest.Item):
    """One obligation, checked when the item runs."""

    def __init__(self, *, entry: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entry = entry
        self.add_marker("loopmlp")
        if entry.slow:
            self.add_marker("slow")

    def runtest(self) -> None:
        from proofs.registry import run_entry
        from verify.methods import Options
        from verify.result import Verdict

        cfg = self.config
        opts = Options(cfg.getoption("--loopmlp-method"), cfg.getoption("--loopmlp-timeout"))
        result = run_entry(self.entry, opts)
        self.user_properties.append(("verdict", result.verdict.label))
        self.user_properties.append(("method", result.method))
        if result.verdict is Verdict.PROVED:
            return
        if result.verdict is Verdict.UNKNOWN and cfg.getoption("--loopmlp-unknown") == "skip":
            pytest.skip(result.line())
        raise ObligationNotProvedError(result.line())

    def repr_failure(self, excinfo: Any, style: Any = None) -> Any:
        if isinstance(excinfo.value, ObligationNotProvedError):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[str, int | None, str]:
        return "loopmlp", None, f"obligation {self.entry.name}"


class Obligations(pytest.Collector):
    """The collector of every selected obligation (its node id is ``loopmlp``)."""

    def collect(self) -> Iterator[pytest.Item]:
        for entry in _entries(self.config):
            yield ObligationItem.from_parent(self, name=entry.name, entry=entry)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    # tryfirst: the items are in place before -m and -k deselect, so both apply to them.
    if not config.getoption(_ENABLE):
        return
    from verify.errors import LoopmlpError

    collector = Obligations.from_parent(session, name="loopmlp", nodeid="loopmlp")
    try:
        items.extend(collector.collect())
    except LoopmlpError as e:
        raise pytest.UsageError(f"loopmlp: {e}") from None
