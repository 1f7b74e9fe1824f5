"""Results reused within a prove run: keyed on the exact content of an obligation, never on its
name alone."""

from __future__ import annotations

import dataclasses
import json
from io import StringIO

from support.mutation import corrupt_bias

from constructions.gadgets import make_read
from loopmlp.cli import main
from verify.methods import Options, check, memo
from verify.obligation import Obligation
from verify.result import Result, Verdict


def counting() -> tuple[list[str], object]:
    calls: list[str] = []

    def run(ob: Obligation, opts: Options) -> Result:
        calls.append(ob.name)
        return check(ob, opts)

    return calls, run


def test_the_same_content_is_checked_once_in_a_run() -> None:
    calls, run = counting()
    ob = make_read(4, 2).obligation()
    again = make_read(4, 2).obligation()  # built anew: another object, the same content
    with memo.reuse():
        first = memo.checked(ob, Options(), run)  # type: ignore[arg-type]
        second = memo.checked(again, Options(), run)  # type: ignore[arg-type]
    assert calls == [ob.name]
    assert first.verdict is second.verdict is Verdict.PROVED
    assert second.details.get("reused") is True and not first.details.get("reused")


def test_the_same_name_with_other_weights_is_checked_again() -> None:
    calls, run = counting()
    ob = make_read(4, 2).obligation()
    bad = dataclasses.replace(corrupt_bias(ob, 0, 3, 1), name=ob.name)  # same name only
    with memo.reuse():
        assert memo.checked(ob, Options(), run).verdict is Verdict.PROVED  # type: ignore[arg-type]
        r = memo.checked(bad, Options(), run)  # type: ignore[arg-type]
    assert r.verdict is Verdict.REFUTED and len(calls) == 2
    assert memo.network_digest(ob) != memo.network_digest(bad)


def test_other_options_and_no_scope_check_again() -> None:
    calls, run = counting()
    ob = make_read(2, 2).obligation()
    memo.checked(ob, Options(), run)  # type: ignore[arg-type]
    memo.checked(ob, Options(), run)  # type: ignore[arg-type]
    with memo.reuse():
        memo.checked(ob, Options(), run)  # type: ignore[arg-type]
        memo.checked(ob, Options(method="exhaustive"), run)  # type: ignore[arg-type]
    assert len(calls) == 4


def test_prove_reuses_a_gadget_as_a_premise_of_the_compositional_step() -> None:
    out, err = StringIO(), StringIO()
    code = main(["prove", "--only", "gadget/read[words=4,bits=4]",
                 "--only", "gadget/write[words=4,bits=4]",
                 "--only", "computer/paper/step/compositional[words=4,bits=4,slots=4]",
                 "--json", "-"], out, err)
    assert code == 0, err.getvalue()
    doc = json.loads(out.getvalue())
    step = next(r for r in doc["results"] if "compositional" in r["obligation"])
    assert step["details"]["reused"] == 2, step


def test_the_same_spec_code_over_other_values_is_checked_again() -> None:
    calls, run = counting()
    ob = make_read(2, 2).obligation()
    spec = ob.spec

    def shifted(offset: int):  # one function, two closures
        def value(*args, **kwargs):  # type: ignore[no-untyped-def]
            out = spec(*args, **kwargs)
            return out if offset == 0 else {k: v + offset for k, v in out.items()}
        return value

    good = dataclasses.replace(ob, spec=shifted(0))
    bad = dataclasses.replace(ob, spec=shifted(1))
    assert memo.content_key(good, Options()) != memo.content_key(bad, Options())
    with memo.reuse():
        assert memo.checked(good, Options(), run).verdict is Verdict.PROVED  # type: ignore[arg-type]
        r = memo.checked(bad, Options(), run)  # type: ignore[arg-type]
    assert len(calls) == 2 and r.verdict is Verdict.REFUTED
