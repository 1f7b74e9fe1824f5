"""bitwuzla as a third solver (bit-vector queries only), the default cross-check pair (z3 with
bitwuzla over bit-vectors, with cvc5 over integers), ``--cross-check-with``, and the solver
options the command line refuses.

bitwuzla reads the same SMT-LIB text as cvc5; these tests pin down that its answers are its own
(proofs, replayed counterexamples, honest timeouts), that an integer query is never silently
handed to another solver, and that a contradiction between two solvers is an internal error.
"""

from __future__ import annotations

import builtins
import importlib.util
import json
import time
from typing import Any

import pytest
from support.cli import run
from support.mutation import corrupt_bias

import verify.methods.solvers as solvers
from constructions.gadgets import make_subtract
from proofs.kernel import full_adder, ripple_adder
from verify.errors import InternalError, ParameterError
from verify.methods import Options, check, replay, smt, smt_bv
from verify.methods.solvers import NO_INTEGERS, SECOND, Answer, decide, resolve
from verify.obligation import Obligation
from verify.result import Verdict

needs_bitwuzla = pytest.mark.skipif(not solvers.has_bitwuzla(),
                                    reason="the bitwuzla extra is not installed")
needs_both = pytest.mark.skipif(
    not solvers.has_bitwuzla() or importlib.util.find_spec("cvc5") is None,
    reason="the bitwuzla and cvc5 extras are not both installed")


def _bw(timeout: float = 30) -> Options:
    return Options("smt", timeout, solver="bitwuzla")

SUBTRACT8 = "gadget/subtract[bits=8]"  # its factorised proof ends in one bit-vector lemma


def _bias_changed(ob: Obligation) -> Obligation:
    return corrupt_bias(ob, 0, 5, 1)


def _without(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """Make ``import`` of each of ``modules`` fail, as when its extra is not installed."""
    real_import = builtins.__import__

    def missing(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.split(".")[0] in modules:
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", missing)


# --------------------------------------------------------------------------- bitwuzla alone
@needs_bitwuzla
@pytest.mark.parametrize("ob", [full_adder(), ripple_adder(3), make_subtract(4).obligation()],
                         ids=lambda o: o.name)
def test_bitwuzla_proves_correct_networks_on_its_own(ob: Obligation) -> None:
    r = smt_bv(ob, _bw())
    assert r.verdict is Verdict.PROVED, r.line()
    assert r.reason == "bitwuzla bit-vectors: unsat" and r.details["solver"] == "bitwuzla-bv"


@needs_bitwuzla
def test_bitwuzla_decides_the_factorised_lemmas() -> None:
    with solvers.recording() as log:
        r = check(make_subtract(16).obligation(), Options("factorised", 60, solver="bitwuzla"))
    assert r.verdict is Verdict.PROVED, r.line()
    assert "(bitwuzla bit-vectors)" in r.reason
    assert log and all(d.solver == "bitwuzla" and d.status == "unsat" for d in log)


@needs_bitwuzla
def test_bitwuzla_counterexample_comes_from_its_model_and_replays() -> None:
    ob = _bias_changed(make_subtract(4).obligation())
    r = smt_bv(ob, _bw())
    assert r.verdict is Verdict.REFUTED and r.reason == "bitwuzla bit-vectors: sat", r.line()
    cex = r.counterexample
    assert cex is not None
    again = replay(ob, cex.inputs)
    assert again is not None and again.network == cex.network and again.spec == cex.spec


def test_a_bitwuzla_model_that_does_not_replay_is_an_internal_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """bitwuzla's sat goes through the exact forward pass: a made-up model is caught."""
    if not solvers.has_bitwuzla():
        pytest.skip("the bitwuzla extra is not installed")
    bogus = Answer("bitwuzla", "sat", 0.0, model={"a": 0, "b": 0, "c": 0})  # correct there
    monkeypatch.setattr(solvers, "_bitwuzla", lambda *a: bogus)
    with pytest.raises(InternalError, match="bitwuzla engine reported a counterexample"):
        smt_bv(full_adder(), _bw())


@needs_bitwuzla
def test_bitwuzla_timeout_is_unknown_with_the_reason() -> None:
    ob = make_subtract(24).obligation()
    t0 = time.perf_counter()
    r = smt_bv(ob, Options("smt", 0.5, solver="bitwuzla"))
    assert r.verdict is Verdict.UNKNOWN, r.line()
    assert r.reason == "bitwuzla bit-vectors: timeout after 0.5s" and r.counterexample is None
    assert time.perf_counter() - t0 < 15


@needs_bitwuzla
def test_an_integer_query_is_unknown_for_bitwuzla_never_another_solver() -> None:
    r = check(full_adder(), _bw())
    assert r.verdict is Verdict.UNKNOWN and r.reason == f"bitwuzla: {NO_INTEGERS}", r.line()
    assert r.details["solvers"] == {"bitwuzla": {"queries": 1, "sat": 0, "unsat": 0,
                                                 "unknown": 1, "seconds": 0.0}}


@needs_bitwuzla
def test_bit_vector_models_are_read_as_signed_integers() -> None:
    import z3

    ctx = z3.Context()
    x = z3.BitVec("MEM[3].bit[5]", 12, ctx)
    y = z3.BitVec("y", 12, ctx)
    d = decide([x < -100, x > -102, y == 7], {"x": x, "y": y, "absent": z3.BitVec("n", 12, ctx)},
               what="t", timeout=10, solvers=("bitwuzla",))
    assert d.status == "sat" and d.model == {"x": -101, "y": 7, "absent": 0}


@needs_bitwuzla
def test_a_disjunction_of_one_term_is_read_as_that_term() -> None:
    """z3 prints ``(or t)`` for one checked output; SMT-LIB (and bitwuzla) needs two or more."""
    import z3

    ctx = z3.Context()
    x = z3.BitVec("x", 8, ctx)
    for query, status in (([z3.Or(x == 3)], "sat"), ([z3.And(x > 3), z3.Or(x < 2)], "unsat")):
        d = decide(query, {"x": x}, what="t", timeout=10, solvers=("z3", "bitwuzla"))
        assert d.status == status and [a.status for a in d.answers] == [status, status]
        assert status == "unsat" or d.model == {"x": 3}


# --------------------------------------------------------------------------- cross-check
def test_the_default_second_solver_follows_the_logic(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Options(cross_check=False).solvers == ("z3",)
    assert resolve(("z3", SECOND), bit_vectors=False) == ("z3", "cvc5")
    assert resolve(("cvc5", "z3"), bit_vectors=True) == ("cvc5", "z3")
    want = "bitwuzla" if solvers.has_bitwuzla() else "cvc5"
    assert resolve(("z3", SECOND), bit_vectors=True) == ("z3", want)
    _without(monkeypatch, "bitwuzla")  # bitwuzla absent: cvc5 decides bit-vectors too
    assert resolve(("z3", SECOND), bit_vectors=True) == ("z3", "cvc5")


@needs_both
def test_default_cross_check_asks_bitwuzla_for_bit_vectors_and_cvc5_for_integers() -> None:
    ob = make_subtract(4).obligation()
    opts = Options("smt", 30, cross_check=True)
    bv, ints = smt_bv(ob, opts), smt(ob, opts)
    assert bv.verdict is ints.verdict is Verdict.PROVED
    assert bv.reason == "z3 bit-vectors: unsat; bitwuzla bit-vectors: unsat"
    assert ints.reason == "z3: unsat; cvc5: unsat"
    assert set(bv.details["answers"]) == {"z3", "bitwuzla"}


@needs_both
def test_default_cross_check_reaches_the_factorised_lemmas() -> None:
    r = check(make_subtract(16).obligation(), Options("factorised", 60, cross_check=True))
    assert r.verdict is Verdict.PROVED and "(z3+bitwuzla bit-vectors)" in r.reason, r.line()
    tally = r.details["solvers"]
    assert tally["z3"]["queries"] == tally["bitwuzla"]["queries"] >= 1
    assert tally["bitwuzla"]["unsat"] == tally["bitwuzla"]["queries"]


@needs_bitwuzla
def test_cross_check_with_a_chosen_pair_and_both_models_replay() -> None:
    ob = _bias_changed(make_subtract(4).obligation())
    r = smt_bv(ob, Options("smt", 30, cross_check_with=("bitwuzla", "z3")))
    assert r.verdict is Verdict.REFUTED, r.line()
    assert r.reason == "bitwuzla bit-vectors: sat; z3 bit-vectors: sat"
    assert r.counterexample is not None and replay(ob, r.counterexample.inputs) is not None


@needs_bitwuzla
def test_a_bitwuzla_disagreement_is_an_internal_error_naming_both_answers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = Answer("bitwuzla", "sat", 0.0, model={"a": 1, "b": 1, "c": 1})
    monkeypatch.setattr(solvers, "_bitwuzla", lambda *a: wrong)
    with pytest.raises(InternalError) as e:
        smt_bv(full_adder(), Options("smt", 10, cross_check_with=("z3", "bitwuzla")))
    assert "kernel/full-adder" in str(e.value)
    assert "z3 says unsat" in str(e.value) and "bitwuzla says sat" in str(e.value)


def test_options_refuse_a_bad_pair() -> None:
    with pytest.raises(ParameterError, match="need two different solvers"):
        Options(cross_check_with=("z3", "z3"))
    with pytest.raises(ParameterError, match="solver='yices'"):
        Options(cross_check_with=("z3", "yices"))
    with pytest.raises(ParameterError, match="with method cvc5"):
        Options("cvc5", solver="bitwuzla")


# --------------------------------------------------------------------------- command line
@needs_bitwuzla
def test_cli_solver_bitwuzla() -> None:
    code, out, _ = run("prove", "--only", SUBTRACT8, "--method", "factorised",
                       "--solver", "bitwuzla", "--json", "-")
    r = json.loads(out)["results"][0]
    assert code == 0 and r["verdict"] == "proved" and "(bitwuzla bit-vectors)" in r["reason"]
    assert set(r["details"]["solvers"]) == {"bitwuzla"}


@needs_bitwuzla
def test_cli_cross_check_with_on_an_integer_query(kernel_registry: None) -> None:
    code, out, err = run("prove", "--only", "kernel/full-adder/smt", "--cross-check-with",
                         "z3,bitwuzla")
    assert code == 3, out + err  # an integer query: bitwuzla cannot prove it, so not proved
    assert f"z3: unsat; bitwuzla: {NO_INTEGERS}" in out
    assert out.splitlines()[-1].startswith("cross-check: z3 1 queries (1 unsat")


@needs_both  # --cross-check needs cvc5 for integer queries, even where none is asked
def test_cli_disagreement_exits_2_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = Answer("bitwuzla", "sat", 0.0, model={})
    monkeypatch.setattr(solvers, "_bitwuzla", lambda *a: wrong)
    code, _, err = run("prove", "--only", SUBTRACT8, "--method", "factorised", "--cross-check")
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"loopmlp: internal error: {SUBTRACT8}: spec lemma")
    assert "z3 says unsat, bitwuzla says sat" in err


@pytest.mark.parametrize(("flags", "message"), [
    (["--method", "cvc5", "--solver", "z3"], "--method cvc5 with --solver z3: "),
    (["--method", "cvc5", "--cross-check-with", "z3,cvc5"], "--method cvc5 with --cross-check"),
    (["--method", "smt", "--solver", "bitwuzla"], "bitwuzla has no integer theory"),
    (["--method", "smt", "--cross-check-with", "z3,bitwuzla"], "bitwuzla has no integer theory"),
    (["--solver", "cvc5", "--cross-check-with", "z3,cvc5"], "name the solvers in "),
    (["--cross-check-with", "z3"], "need two different solvers"),
    (["--cross-check-with", "z3,yices"], "need two different solvers"),
])
def test_cli_refuses_solver_options_that_contradict(kernel_registry: None, flags: list[str],
                                                    message: str) -> None:
    code, out, err = run("prove", *flags)
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert message in err and "Traceback" not in err


def test_without_bitwuzla_the_cli_names_the_extra(monkeypatch: pytest.MonkeyPatch,
                                                  kernel_registry: None) -> None:
    _without(monkeypatch, "bitwuzla")
    for flags in (["--solver", "bitwuzla"], ["--cross-check-with", "z3,bitwuzla"]):
        code, out, err = run("prove", *flags)
        assert code == 2 and out == ""
        assert err == ("loopmlp: error: bitwuzla is not installed; it is needed for --solver "
                       "bitwuzla and --cross-check-with ...bitwuzla: "
                       "pip install 'loopmlp[bitwuzla]'\n")


def test_bench_solvers_runs_z3_without_the_other_solvers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    _without(monkeypatch, "bitwuzla", "cvc5")
    code, out, _ = run("bench", "solvers", "--bits", "2", "--timeout", "20", "--json")
    assert code == 0
    doc = json.loads(out)
    assert [r["config"] for r in doc["rows"]] == ["z3-int", "z3-bv"]
    assert all(r["verdict"] == "proved" for r in doc["rows"])
    assert [c["config"] for c in doc["left_out"]] == ["cvc5-int", "cvc5-bv", "bitwuzla-bv"]
    assert doc["left_out"][2]["reason"] == "bitwuzla is not installed"
    code, out, _ = run("bench", "solvers", "--bits", "2", "--timeout", "20")
    assert code == 0 and out.startswith("cvc5-int: not tried (cvc5 is not installed)\n")
    code, _, err = run("bench", "solvers", "--bits", "2", "--solvers", "bitwuzla-bv")
    assert code == 2 and "pip install 'loopmlp[bitwuzla]'" in err


@needs_bitwuzla
def test_bench_solvers_runs_bitwuzla() -> None:
    code, out, _ = run("bench", "solvers", "--bits", "2,3", "--timeout", "20", "--json",
                       "--solvers", "z3-bv,bitwuzla-bv")
    assert code == 0
    rows = json.loads(out)["rows"]
    assert [(r["bits"], r["config"], r["verdict"]) for r in rows] == [
        (b, c, "proved") for b in (2, 3) for c in ("z3-bv", "bitwuzla-bv")]
