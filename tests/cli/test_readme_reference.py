"""The README's command reference against the argument parsers: one section per command and
subcommand, documenting every option and argument (and nothing that does not exist), with each
default the parser has; and every option's ``--help`` text present and naming its default."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopmlp.cli.dispatch import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
HEADING = re.compile(r"^### `loopmlp(?: (?P<name>[a-z][a-z ]*))?`\s*$", re.M)
OPTION = re.compile(r"(?<![\w-])(--?[a-zA-Z][\w-]*)")


def parsers() -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """``(command name, parser)`` for the top level and every command and subcommand that
    takes options or arguments of its own or has no subcommands (``bench long``, ...)."""
    yield "", build_parser()
    for c in COMMANDS:
        top = build_parser(c.name)
        yield from _walk(c.name, _subparsers(top)[c.name])


def _subparsers(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for a in p._actions:
        if isinstance(a, argparse._SubParsersAction):
            return dict(a.choices)
    return {}


def _walk(name: str, p: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    subs = _subparsers(p)
    if not subs or _actions(p):
        yield name, p
    for sub, sp in subs.items():
        yield from _walk(f"{name} {sub}", sp)


def _actions(p: argparse.ArgumentParser) -> list[argparse.Action]:
    """The options and arguments a user gives (not help, not subcommands, not hidden)."""
    return [a for a in p._actions
            if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))
            and a.help != argparse.SUPPRESS]


def _names(a: argparse.Action) -> list[str]:
    """How the README names an action: its option strings, or an argument's metavar."""
    if a.option_strings:
        return list(a.option_strings)
    meta = a.metavar if isinstance(a.metavar, str) else a.dest
    return [meta]


def sections() -> dict[str, str]:
    """The README's command reference: ``command name -> section text``."""
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## Command reference")
    end = text.find("\n## ", start + 1)
    part = text[start:end if end >= 0 else len(text)]
    heads = list(HEADING.finditer(part))
    found: dict[str, str] = {}
    for i, m in enumerate(heads):
        stop = heads[i + 1].start() if i + 1 < len(heads) else len(part)
        name = m["name"] or ""
        assert name not in found, f"README: two sections for `loopmlp {name}`"
        found[name] = part[m.end():stop]
    return found


def rows(section: str) -> list[list[str]]:
    """The cells of every table row of a section, the header and the rule left out."""
    out = []
    for line in section.splitlines():
        if not line.startswith("|") or line.startswith("| ---") or line.startswith("| option"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        out.append(cells)
    return out


def documented(section: str) -> dict[str, list[str]]:
    """``name -> row`` for every option and argument a section's table names in its first
    column (options as written, e.g. ``--only``; arguments by the first word in backticks)."""
    found: dict[str, list[str]] = {}
    for cells in rows(section):
        first = cells[0]
        opts = OPTION.findall(first)
        if not opts:
            opts = [t.split()[0] for t in re.findall(r"`([^`]+)`", first)]
        for o in opts:
            found[o] = cells
    return found


def default_spellings(value: object) -> set[str]:
    """How a default may be written in the README (``60`` for 60.0, ``100,000`` or
    ``100000``, a bundled file by its path in the repository)."""
    text = str(value)
    spelled = {text}
    if isinstance(value, float):
        spelled.add(f"{value:g}")
    if isinstance(value, int):
        spelled.add(f"{value:,}")
    if isinstance(value, str) and value.startswith(str(ROOT)):
        spelled = {Path(value).relative_to(ROOT).as_posix()}
    return spelled


ALL = list(parsers())
NAMES = [name or "loopmlp" for name, _ in ALL]


def test_every_command_has_one_section_and_every_section_a_command() -> None:
    have = set(sections())
    want = {name for name, _ in ALL}
    assert sorted(want - have) == [], "commands with no README section"
    assert sorted(have - want) == [], "README sections for commands that do not exist"


@pytest.mark.parametrize(("name", "parser"), ALL, ids=NAMES)
def test_the_section_documents_exactly_the_options(name: str,
                                                   parser: argparse.ArgumentParser) -> None:
    section = sections().get(name)
    assert section is not None, f"README: no section `loopmlp {name}`"
    docs = documented(section)
    actual = {n for a in _actions(parser) for n in _names(a)}
    assert sorted(actual - set(docs)) == [], f"`loopmlp {name}`: options missing from README"
    assert sorted(set(docs) - actual) == [], f"`loopmlp {name}`: README documents options " \
        "that do not exist"


@pytest.mark.parametrize(("name", "parser"), ALL, ids=NAMES)
def test_the_section_gives_every_default(name: str, parser: argparse.ArgumentParser) -> None:
    docs = documented(sections().get(name, ""))
    for a in _actions(parser):
        if a.default is None or isinstance(a.default, bool) or a.default == argparse.SUPPRESS:
            continue
        row = docs.get(_names(a)[0])
        assert row is not None, f"`loopmlp {name}`: {_names(a)[0]} is not documented"
        said = row[-1]
        assert any(s in said for s in default_spellings(a.default)), \
            f"`loopmlp {name}` {_names(a)[0]}: README default {said!r}, parser {a.default!r}"


@pytest.mark.parametrize(("name", "parser"), ALL, ids=NAMES)
def test_help_says_what_each_option_does_and_its_default(
        name: str, parser: argparse.ArgumentParser) -> None:
    for a in _actions(parser):
        assert a.help, f"`loopmlp {name}` {_names(a)[0]}: no --help text"
        if a.default in (None, argparse.SUPPRESS) or isinstance(a.default, bool) \
                or not a.option_strings:
            continue
        assert "default" in a.help, f"`loopmlp {name}` {_names(a)[0]}: --help does not say " \
            f"its default ({a.default!r})"


def test_the_parser_walk_finds_every_subcommand() -> None:
    """The walk above must see the nested commands, or the tests would pass on nothing."""
    names = {name for name, _ in ALL}
    assert {"prove", "bench long", "giannou frontier", "lang save", "check"} <= names
    assert "bench" not in names and len(names) >= 25
