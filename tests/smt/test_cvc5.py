"""cvc5 as a second, independent solver, and cross-checking every SMT query with both solvers.

The formula is built once (z3 terms) and handed to cvc5 as SMT-LIB text; these tests pin down
that cvc5's answers are its own (proofs, replayed counterexamples, honest timeouts), that under
``--cross-check`` both solvers decide every query of every proof path, and that a contradiction
between them is an internal error (exit 2, one line), never a verdict.
"""

from __future__ import annotations

import builtins
import json
import time
from pathlib import Path
from typing import Any

import pytest
from support.cli import run

import verify.methods.solvers
from constructions.gadgets import make_subtract
from proofs.kernel import full_adder, ripple_adder
from verify.errors import InternalError, LoopmlpError, ParameterError
from verify.methods import Options, check, replay, smt, smt_bv
from verify.methods.solvers import Answer
from verify.network import Network
from verify.obligation import Obligation
from verify.result import Verdict

cvc5 = pytest.importorskip("cvc5", reason="the cvc5 extra is not installed")
Z3_CVC5 = ("z3", "cvc5")  # over bit-vectors the default second solver may be bitwuzla


def _bias_changed(ob: Obligation, layer: int, row: int, delta: int) -> Obligation:
    from dataclasses import replace

    layers = list(ob.network.layers)
    bias = list(layers[layer].bias)
    bias[row] += delta
    layers[layer] = replace(layers[layer], bias=tuple(bias))
    return Obligation(ob.name + "~bias", Network(tuple(layers), "corrupt"), ob.domain, ob.spec,
                      ob.bounds, ob.outputs, ob.factorisation)




# --------------------------------------------------------------------------- cvc5 alone
@pytest.mark.parametrize("ob", [full_adder(), ripple_adder(3), make_subtract(4).obligation()],
                         ids=lambda o: o.name)
def test_cvc5_proves_correct_networks_on_its_own(ob: Obligation) -> None:
    r = check(ob, Options("cvc5", timeout=30))
    assert r.verdict is Verdict.PROVED, r.line()
    assert r.method == "cvc5" and r.reason == "cvc5: unsat" and r.details["solver"] == "cvc5"
    assert r.details["solvers"]["cvc5"]["unsat"] == 1 and "z3" not in r.details["solvers"]


def test_cvc5_counterexample_comes_from_its_model_and_replays() -> None:
    ob = _bias_changed(make_subtract(4).obligation(), 0, 5, 1)
    for r in (check(ob, Options("cvc5", timeout=30)),
              smt_bv(ob, Options("smt", 30, solver="cvc5"))):
        assert r.verdict is Verdict.REFUTED and r.reason.startswith("cvc5"), r.line()
        cex = r.counterexample
        assert cex is not None
        again = replay(ob, cex.inputs)
        assert again is not None and again.network == cex.network and again.spec == cex.spec


def test_a_cvc5_model_that_does_not_replay_is_an_internal_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """cvc5's sat goes through the exact forward pass: a made-up model is caught, not shown."""
    ob = full_adder()
    bogus = Answer("cvc5", "sat", 0.0, model={"a": 0, "b": 0, "c": 0})  # correct there
    monkeypatch.setattr(verify.methods.solvers, "_cvc5", lambda *a: bogus)
    with pytest.raises(InternalError, match="cvc5 engine reported a counterexample"):
        check(ob, Options("cvc5"))


def test_cvc5_timeout_is_unknown_with_the_reason() -> None:
    ob = make_subtract(24).obligation()
    t0 = time.perf_counter()
    r = check(ob, Options("cvc5", timeout=0.5))
    elapsed = time.perf_counter() - t0
    assert r.verdict is Verdict.UNKNOWN, r.line()
    assert r.reason == "cvc5: timeout after 0.5s" and r.counterexample is None
    assert elapsed < 15


def test_bit_vector_models_are_read_as_signed_integers() -> None:
    import z3

    ctx = z3.Context()
    x = z3.BitVec("MEM[3].bit[5]", 12, ctx)
    d = verify.methods.solvers.decide([x < -100, x > -102], {"x": x}, what="t", timeout=10,
                              solvers=("z3", "cvc5"))
    assert d.status == "sat" and [a.model for a in d.answers] == [{"x": -101}, {"x": -101}]


# --------------------------------------------------------------------------- cross-check
def test_cross_check_agrees_on_a_proved_gadget() -> None:
    ob = make_subtract(4).obligation()
    for r in (smt(ob, Options("smt", 30, cross_check=True)),
              smt_bv(ob, Options("smt", 30, cross_check_with=Z3_CVC5))):
        assert r.verdict is Verdict.PROVED, r.line()
        assert set(r.details["answers"]) == {"z3", "cvc5"}
        assert all(a["answer"] == "unsat" and a["seconds"] >= 0
                   for a in r.details["answers"].values())
    assert r.reason == "z3 bit-vectors: unsat; cvc5 bit-vectors: unsat"


def test_cross_check_agrees_on_a_refuted_gadget_and_both_models_replay() -> None:
    ob = _bias_changed(make_subtract(4).obligation(), 0, 5, 1)
    r = smt(ob, Options("smt", 30, cross_check=True))
    assert r.verdict is Verdict.REFUTED and r.reason == "z3: sat; cvc5: sat", r.line()
    assert r.counterexample is not None and replay(ob, r.counterexample.inputs) is not None


def test_cross_check_reaches_the_factorised_lemmas() -> None:
    """Every query of a factorised proof (box checks, spec lemma) is decided by both."""
    ob = make_subtract(16).obligation()
    r = check(ob, Options("factorised", 60, cross_check_with=Z3_CVC5))
    assert r.verdict is Verdict.PROVED, r.line()
    tally = r.details["solvers"]
    assert tally["z3"]["queries"] == tally["cvc5"]["queries"] >= 1
    assert tally["z3"]["unsat"] == tally["cvc5"]["unsat"] == tally["z3"]["queries"]


def test_cross_check_reaches_the_contract_lemmas() -> None:
    from constructions.machine.subleq import MachineSize
    from proofs.computer import contracts_entry
    from proofs.registry import run_entry

    r = run_entry(contracts_entry(MachineSize(4, 4, 4)),
                  Options(timeout=60, cross_check_with=Z3_CVC5))
    assert r.verdict is Verdict.PROVED, r.line()
    assert r.details["solvers"]["z3"]["unsat"] == r.details["solvers"]["cvc5"]["unsat"] == 2


def test_unknown_from_one_solver_means_not_proved(monkeypatch: pytest.MonkeyPatch) -> None:
    give_up = Answer("cvc5", "unknown", 0.0, "timeout after 1s")
    monkeypatch.setattr(verify.methods.solvers, "_cvc5", lambda *a: give_up)
    r = smt(full_adder(), Options("smt", 10, cross_check=True))
    assert r.verdict is Verdict.UNKNOWN and r.reason == "z3: unsat; cvc5: timeout after 1s"


def test_a_disagreement_is_an_internal_error_naming_both_answers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = Answer("cvc5", "sat", 0.0, model={"a": 1, "b": 1, "c": 1})
    monkeypatch.setattr(verify.methods.solvers, "_cvc5", lambda *a: wrong)
    with pytest.raises(InternalError) as e:
        smt(full_adder(), Options("smt", 10, cross_check=True))
    assert "kernel/full-adder" in str(e.value)
    assert "z3 says unsat" in str(e.value) and "cvc5 says sat" in str(e.value)


def test_cli_disagreement_exits_2_with_one_line(monkeypatch: pytest.MonkeyPatch,
                                                kernel_registry: None, tmp_path: Path) -> None:
    wrong = Answer("cvc5", "sat", 0.0, model={"a": 1, "b": 1, "c": 1})
    monkeypatch.setattr(verify.methods.solvers, "_cvc5", lambda *a: wrong)
    out = tmp_path / "r.json"
    code, _, err = run("prove", "--only", "kernel/full-adder/smt", "--cross-check",
                       "--json", str(out))
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("loopmlp: internal error: kernel/full-adder")
    assert "z3 says unsat, cvc5 says sat" in err and "Traceback" not in err
    assert not out.exists()


def test_cli_cross_check_records_both_solvers_in_json(kernel_registry: None) -> None:
    code, out, _ = run("prove", "--only", "kernel/*/smt", "--cross-check", "--json", "-")
    assert code == 0
    doc = json.loads(out)
    for r in doc["results"]:
        assert r["verdict"] == "proved"
        assert r["reason"] == "z3: unsat; cvc5: unsat"
        assert set(r["details"]["answers"]) == {"z3", "cvc5"}
        assert r["details"]["solvers"]["cvc5"]["queries"] == 1


def test_cli_cross_check_prints_one_summary_line(kernel_registry: None) -> None:
    code, out, _ = run("prove", "--only", "kernel/*/smt", "--cross-check")
    assert code == 0
    n = sum(1 for line in out.splitlines() if ": PROVED " in line)
    last = out.splitlines()[-1]
    assert last.startswith(f"cross-check: z3 {n} queries ({n} unsat, 0 sat, 0 unknown, ")
    assert f"cvc5 {n} queries ({n} unsat" in last and last.endswith("no disagreement")


def test_cli_method_cvc5_and_solver_flag(kernel_registry: None) -> None:
    code, out, _ = run("prove", "--only", "kernel/full-adder*", "--method", "cvc5")
    assert code == 0 and "kernel/full-adder: PROVED cvc5 8/8" in out
    code, out, _ = run("prove", "--only", "kernel/full-adder/smt", "--solver", "cvc5",
                       "--json", "-")
    assert code == 0 and json.loads(out)["results"][0]["reason"] == "cvc5: unsat"


@pytest.mark.parametrize("flags", [["--cross-check"], ["--method", "cvc5"],
                                   ["--solver", "cvc5"]])
def test_without_cvc5_the_cli_names_the_extra(monkeypatch: pytest.MonkeyPatch,
                                              kernel_registry: None, tmp_path: Path,
                                              flags: list[str]) -> None:
    real_import = builtins.__import__

    def no_cvc5(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "cvc5" or name.startswith("cvc5."):
            raise ImportError("No module named 'cvc5'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cvc5)
    out = tmp_path / "r.json"
    code, stdout, err = run("prove", *flags, "--json", str(out))
    assert code == 2 and stdout == ""
    assert err == ("loopmlp: error: cvc5 is not installed; it is needed for --method cvc5, "
                   "--solver cvc5 and --cross-check: pip install 'loopmlp[cvc5]'\n")
    assert not out.exists()


def test_options_name_a_bad_solver() -> None:
    with pytest.raises(ParameterError, match="solver='yices': need one of z3, cvc5, bitwuzla"):
        Options(solver="yices")
    assert issubclass(verify.methods.solvers.MissingExtraError, LoopmlpError)


def test_bench_solvers_runs_each_configuration() -> None:
    configs = ("z3-int", "cvc5-int", "z3-bv", "cvc5-bv")
    code, out, _ = run("bench", "solvers", "--bits", "2,3", "--timeout", "20", "--json",
                       "--solvers", ",".join(configs))
    assert code == 0
    rows = json.loads(out)["rows"]
    assert [(r["bits"], r["config"]) for r in rows] == [(b, c) for b in (2, 3) for c in configs]
    assert all(r["verdict"] == "proved" for r in rows)
    code, _, err = run("bench", "solvers", "--solvers", "z3-int,yices")
    assert code == 2 and err.count("\n") == 1 and "--solvers" in err
