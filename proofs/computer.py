"""Obligations of the assembled computer, named ``computer/<profile>/...``.

Design notes: docs/design/proofs.computer.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

import z3

from constructions.computer import (
    FOLDED_PROFILES,
    PROFILES,
    Computer,
    LayerPlan,
    build,
    state_names,
)
from constructions.gadgets.branch import branch_contract
from constructions.gadgets.compare import compare_contract
from constructions.gadgets.increment import increment_contract
from constructions.gadgets.read import read_contract
from constructions.gadgets.subtract import subtract_contract
from constructions.gadgets.write import write_contract
from constructions.machine.subleq import MachineSize, step_symbolic
from verify import names
from verify.domains import Bits
from verify.errors import InternalError
from verify.fold import fold_all, fold_obligation
from verify.interval import Interval, Tracker
from verify.layout import Layout
from verify.methods import Options, memo
from verify.methods.solvers import decide
from verify.network import Layer, Network
from verify.obligation import Obligation
from verify.ops import bit, select, word
from verify.result import Result, Verdict

from .registry import Entry, of

Size = tuple[int, int, int]
COMPOSITIONAL_SIZES: tuple[Size, ...] = ((4, 4, 4), (16, 16, 64), (256, 16, 256))


def _tag(size: MachineSize) -> str:
    return names.sizes_tag({"words": size.words, "bits": size.bits, "slots": size.slots})


def _result(name: str, verdict: Verdict, method: str, t0: float, reason: str,
            **details: Any) -> Result:
    proved = verdict is Verdict.PROVED
    return Result(name, verdict, method, 1 if proved else 0, 1, time.perf_counter() - t0,
                  reason, None, details)


# --------------------------------------------------------------------------- structure
def _rows(layer: Layer) -> dict[str, tuple[dict[str, int], int]]:
    ins, outs = layer.inputs.names, layer.outputs.names
    rows: dict[str, tuple[dict[str, int], int]] = {n: ({}, layer.bias[i])
                                                  for i, n in enumerate(outs)}
    for r, c, v in zip(layer.rows, layer.cols, layer.vals):
        coeffs = rows[outs[r]][0]  # repeated entries add up, as in the forward pass
        coeffs[ins[c]] = coeffs.get(ins[c], 0) + v
        if coeffs[ins[c]] == 0:
            del coeffs[ins[c]]
    return rows


def structure_problems(comp: Computer) -> list[str]:
    """Every way the assembled layers differ from gadget blocks + copies + identities.

    For a folded profile: the unfolded network is checked so, and every layer of the network
    must be exactly the fold of the unfolded layers (:func:`verify.fold.fold_all`); that the
    folds preserve the step is the separate ``fold/...`` obligation.
    """
    if comp.unfolded is None:
        return _block_problems(comp, comp.network, comp.plans)
    problems = [f"unfolded {p}" for p in
                _block_problems(comp, comp.unfolded, comp.unfolded_plans)]
    refolded = fold_all(comp.unfolded, list(comp.folds))
    got_layers, want_layers = comp.network.layers, refolded.layers
    if len(got_layers) != len(want_layers):
        return problems + [f"{len(got_layers)} layers, but folding gives {len(want_layers)}"]
    for li, (got, want) in enumerate(zip(got_layers, want_layers)):
        if got.inputs != want.inputs or got.outputs != want.outputs or got.relu != want.relu:
            problems.append(f"layer {li} ({comp.plans[li].label}) has other coordinates or "
                            "activation than the fold")
            continue
        got_rows, want_rows = _rows(got), _rows(want)
        for name in got.outputs.names:
            if got_rows[name] != want_rows[name]:
                problems.append(f"layer {li}: unit {name} is not the fold of its gadget units")
    return problems


def _block_problems(comp: Computer, net: Network, plans: Sequence[LayerPlan]) -> list[str]:
    """:func:`structure_problems` of an unfolded network with its plans."""
    problems: list[str] = []
    if net.outputs != net.inputs or list(net.inputs.names) != state_names(comp.size):
        problems.append("the network does not map the state layout to itself")
    owner: dict[int, list[tuple[int, int]]] = {}
    for p_idx, p in enumerate(comp.placements):
        for s in range(len(p.stages)):
            owner.setdefault(p.first_layer + s, []).append((p_idx, s))
    for li, (layer, plan) in enumerate(zip(net.layers, plans)):
        if plan.identity:
            if not layer.is_identity:
                problems.append(f"layer {li} ({plan.label}) is not an exact identity")
            continue
        rows = _rows(layer)
        accounted: set[str] = set()
        for p_idx, s in owner.get(li, []):
            p = comp.placements[p_idx]
            g_layer = p.gadget.network.layers[s]
            prev_g = (p.gadget.network.inputs.names if s == 0
                      else p.gadget.network.layers[s - 1].outputs.names)
            prev_c = p.inputs if s == 0 else tuple(u.name for u in p.stages[s - 1])
            rho = dict(zip(prev_g, prev_c))
            g_rows = _rows(g_layer)
            for g_name, unit in zip(g_layer.outputs.names, p.stages[s]):
                want_coeffs, want_bias = g_rows[g_name]
                want = ({rho[n]: v for n, v in want_coeffs.items()}, want_bias)
                got = rows.get(unit.name)
                if got != want:
                    problems.append(f"layer {li}: unit {unit.name} is not {p.role}'s "
                                    f"{g_name} renamed")
                accounted.add(unit.name)
        for name, (coeffs, b) in rows.items():
            if name in accounted:
                continue
            if coeffs != {name: 1} or b != 0:
                problems.append(f"layer {li}: unit {name} is neither a gadget unit nor a copy")
        if len(problems) > 20:
            break
    return problems


def exhaustive_step_entries(profile: str, ms: MachineSize) -> list[Entry]:
    """The step and the invariant of ``profile`` at ``ms``, each over every canonical state."""
    return [of(f"computer/{profile}/step/monolithic{_tag(ms)}",
               partial(monolithic, profile, ms), method="exhaustive"),
            of(f"computer/{profile}/invariant{_tag(ms)}",
               partial(invariant, profile, ms), method="exhaustive")]


def structure_entry(profile: str, size: MachineSize, slow: bool = False,
                    problems_of: Callable[[Computer], list[str]] | None = None,
                    holds: str = "every layer is gadget blocks, copies or an exact identity",
                    details: Callable[[Computer], dict[str, Any]] | None = None) -> Entry:
    """``computer/PROFILE/structure[...]``: the built network has the structure
    ``problems_of`` checks (:func:`structure_problems` by default); ``holds`` says what was
    found when nothing is wrong, ``details`` what the result records."""
    name = f"computer/{profile}/structure{_tag(size)}"
    check = problems_of or structure_problems

    def record(comp: Computer) -> dict[str, Any]:
        if details is not None:
            return details(comp)
        return {"layers": comp.network.depth, "identity_layers": len(comp.identity_layers())}

    def run(opts: Options) -> Result:
        t0 = time.perf_counter()
        comp = build(profile, size)
        problems = check(comp)
        return _result(name, Verdict.REFUTED if problems else Verdict.PROVED, "structural", t0,
                       "; ".join(problems[:3]) if problems else holds, **record(comp))

    return Entry(name, run, slow)


# --------------------------------------------------------------------------- contracts
def fetch_fields(code_words: list[Any], pc: Any, size: MachineSize) -> tuple[Any, Any, Any]:
    """Fetch the whole instruction word at ``pc`` and split it into (a, b, c) by wiring:
    I.bit[i] -> a.bit[i], I.bit[m + i] -> b.bit[i], I.bit[2m + i] -> c.bit[i]."""
    m, k = size.addr_bits, size.pc_bits
    ins = read_contract(code_words, pc)
    return _field(ins, 0, m), _field(ins, m, m), _field(ins, 2 * m, k)


def execute(memory: list[Any], a: Any, b: Any, c: Any, pc: Any,
            size: MachineSize) -> tuple[list[Any], Any]:
    """The data part of the step from the gadget contracts: read both operands, subtract,
    write, increment, compare, branch (the network's order)."""
    n, k = size.bits, size.pc_bits
    da = read_contract(memory, a)
    db = read_contract(memory, b)
    r = subtract_contract(da, db, n)
    new_memory = write_contract(memory, b, r)
    pc1 = increment_contract(pc, k)
    f = compare_contract(r, n)
    return new_memory, branch_contract(c, pc1, f)


def composed_step(memory: list[Any], code_words: list[Any], pc: Any,
                  size: MachineSize) -> tuple[list[Any], Any]:
    """The gadget contracts in the network's order: fetch, split, then :func:`execute`."""
    a, b, c = fetch_fields(code_words, pc, size)
    return execute(memory, a, b, c, pc, size)


def _field(x: Any, lo: int, width: int) -> Any:
    """Bits [lo, lo + width) of x, as the wiring I.bit[lo + i] -> field.bit[i] reads them."""
    return word([bit(x, lo + i) for i in range(width)])


def contracts_check(size: MachineSize, timeout: float,
                    solvers: Sequence[str] = ("z3",)) -> tuple[Verdict, Any]:
    """SMT proof (z3, cvc5 or both: ``solvers``) that composed_step == step_symbolic for every
    state of the machine: PROVED with the bit-vector width used, else the verdict and why.

    Two lemmas, each over every value of its variables:

    1. wiring: for any fields a < 2^m, b < 2^m, c < 2^k, splitting the packed word
       a + 2^m b + 2^(2m) c by wiring gives back (a, b, c). Every slot is packed the same way,
       so fetch_fields(words, pc) == code[pc] for every pc (select commutes with the split).
    2. execution: execute(memory, code[pc], pc) == step_symbolic(memory, code, pc) for every
       memory, code and pc.

    Together: composed_step(memory, words, pc) == step_symbolic(memory, code, pc).
    """
    width = _no_wrap_width(size)
    for lemma, what in ((_wiring, "wiring"), (_execution, "execution")):
        query, variables = lemma(z3.Context(), size, width)
        d = decide([query], variables, what=f"computer/contracts{_tag(size)}: {what}",
                   timeout=timeout, solvers=solvers)
        if d.status == "sat" and d.model is not None:
            _replay_contracts(what, d.model, size)
            return Verdict.REFUTED, f"{what}: {str(dict(d.model))[:300]}"
        if d.status != "unsat":
            return Verdict.UNKNOWN, f"{what}: {d.describe()}"
    return Verdict.PROVED, width


def _replay_contracts(what: str, model: Mapping[str, int], size: MachineSize) -> None:
    """Re-evaluate a solver's counterexample to a contract lemma on Python integers; one that
    lies outside the lemma's ranges or shows no difference is an internal error."""
    m, k, n = size.addr_bits, size.pc_bits, size.bits
    value = {name: int(v) for name, v in model.items()}
    if what == "wiring":
        a, b, c = value["a"], value["b"], value["c"]
        ok = 0 <= a < (1 << m) and 0 <= b < (1 << m) and 0 <= c < (1 << k)
        differs = fetch_fields([a + b * (1 << m) + c * (1 << 2 * m)], 0, size) != (a, b, c)
    else:
        mem = [value[f"MEM[{j}]"] for j in range(size.words)]
        code = [tuple(value[f"{x}[{j}]"] for x in "abc") for j in range(size.slots)]
        pc = value["PC"]
        ok = (all(0 <= v < (1 << n) for v in mem) and 0 <= pc < (1 << k)
              and all(0 <= a < (1 << m) and 0 <= b < (1 << m) and 0 <= c < (1 << k)
                      for a, b, c in code))
        a_f, b_f, c_f = code[pc]
        differs = (execute(mem, a_f, b_f, c_f, pc, size)
                   != step_symbolic(mem, code, pc, size))
    if not (ok and differs):
        raise InternalError(f"computer/contracts{_tag(size)}: {what}: the solver's "
                            f"counterexample {dict(value)} does not replay on integers")


def _no_wrap_width(size: MachineSize) -> int:
    """A bit-vector width in which neither side of the lemmas wraps: both run on intervals and
    the largest value any of their terms takes is recorded."""
    m, k, n, q = size.addr_bits, size.pc_bits, size.bits, size.ins_bits
    tracker = Tracker()
    mem_i = [Interval(0, (1 << n) - 1, tracker) for _ in range(size.words)]
    fields_i = [(Interval(0, (1 << m) - 1, tracker), Interval(0, (1 << m) - 1, tracker),
                 Interval(0, (1 << k) - 1, tracker)) for _ in range(size.slots)]
    words_i = [a + b * (1 << m) + c * (1 << 2 * m) for a, b, c in fields_i]
    pc_i = Interval(0, (1 << k) - 1, tracker)
    composed_step(mem_i, words_i, pc_i, size)
    step_symbolic(mem_i, fields_i, pc_i, size)
    return max(tracker.max_abs, 1 << q).bit_length() + 2


def _wiring(ctx: Any, size: MachineSize, width: int) -> tuple[Any, dict[str, Any]]:
    """Lemma 1 negated: fields in range whose packed word splits into other fields."""
    m, k = size.addr_bits, size.pc_bits
    a, b, c = (z3.BitVec(x, width, ctx) for x in "abc")
    got = fetch_fields([a + b * (1 << m) + c * (1 << 2 * m)], 0, size)
    return z3.And(a >= 0, a < (1 << m), b >= 0, b < (1 << m), c >= 0, c < (1 << k),
                  z3.Or(got[0] != a, got[1] != b, got[2] != c)), {"a": a, "b": b, "c": c}


def _execution(ctx: Any, size: MachineSize, width: int) -> tuple[Any, dict[str, Any]]:
    """Lemma 2 negated: a state where the composed contracts and the SUBLEQ step differ."""
    m, k, n = size.addr_bits, size.pc_bits, size.bits
    mem = [z3.BitVec(f"MEM[{j}]", width, ctx) for j in range(size.words)]
    code = [tuple(z3.BitVec(f"{x}[{j}]", width, ctx) for x in "abc")
            for j in range(size.slots)]
    pc = z3.BitVec("PC", width, ctx)
    cs = [v >= 0 for v in mem] + [v < (1 << n) for v in mem] + [pc >= 0, pc < (1 << k)]
    for a, b, c in code:
        cs += [a >= 0, a < (1 << m), b >= 0, b < (1 << m), c >= 0, c < (1 << k)]
    a_f, b_f, c_f = (select([ins[i] for ins in code], pc) for i in range(3))
    got_mem, got_pc = execute(mem, a_f, b_f, c_f, pc, size)
    want_mem, want_pc = step_symbolic(mem, code, pc, size)
    diffs = [g != w for g, w in zip(got_mem, want_mem)] + [got_pc != want_pc]
    variables = {str(v): v for v in [*mem, *(x for ins in code for x in ins), pc]}
    return z3.And(*cs, z3.Or(*diffs)), variables


def contracts_entry(size: MachineSize) -> Entry:
    name = f"computer/contracts{_tag(size)}"

    def run(opts: Options) -> Result:
        t0 = time.perf_counter()
        verdict, info = contracts_check(size, opts.timeout, opts.solvers)
        proved = verdict is Verdict.PROVED
        return _result(name, verdict, "smt", t0,
                       f"composed contracts vs SUBLEQ step: {verdict.label}"
                       + (f" ({info})" if not proved else ""),
                       bv_width=info if proved else None)

    return Entry(name, run)


# --------------------------------------------------------------------------- compositional
def gadget_obligations(comp: Computer) -> list[Obligation]:
    """The distinct gadget obligations the computer relies on, at its sizes: two placements
    share one obligation only when its network has the same content (name and weights)."""
    seen: dict[tuple[str, str], Obligation] = {}
    for p in comp.placements:
        ob = p.gadget.obligation()
        seen.setdefault((ob.name, memo.network_digest(ob)), ob)
    return list(seen.values())


def compositional_entry(profile: str, size: MachineSize, slow: bool = False) -> Entry:
    """One SUBLEQ step of ``profile`` at ``size`` from three premises: the structure (every
    layer is gadget blocks renamed, copies or identities), the contracts (the gadgets'
    word-level contracts compose to the step) and every gadget obligation at the sizes used.

    The read and write gadgets (fetch, read a, read b, write) at many words are proved by the
    decoder method, for every address at once (see :func:`proofs.gadgets._entry` and
    docs/decoder.md). A gadget obligation with the same content (name and every weight)
    proved earlier in the same ``prove`` run is not proved again
    (:func:`verify.methods.memo.checked`).
    """
    name = f"computer/{profile}/step/compositional{_tag(size)}"

    def run(opts: Options) -> Result:
        t0 = time.perf_counter()
        comp = build(profile, size)
        parts: list[tuple[str, Verdict, str]] = []
        problems = structure_problems(comp)
        parts.append(("structure", Verdict.PROVED if not problems else Verdict.REFUTED,
                      "; ".join(problems[:2]) or "exact"))
        verdict, _ = contracts_check(size, opts.timeout, opts.solvers)
        parts.append(("contracts", verdict, verdict.label))
        reused = 0
        for ob in gadget_obligations(comp):
            # Proved earlier in the same prove run (same content): not proved again.
            r = memo.checked(ob, replace(opts, method="auto", progress=None))
            reused += bool(r.details.get("reused"))
            parts.append((ob.name, r.verdict, f"{r.method} {r.reason}"))
        verdict = min(v for _, v, _ in parts)
        weak = [f"{n}: {v.name} ({why})" for n, v, why in parts if v is not Verdict.PROVED]
        reason = "; ".join(weak) if weak else (
            f"structure exact, contracts compose to the SUBLEQ step, {len(parts) - 2} gadget "
            f"obligations proved ({reused} of them earlier in this run)")
        return Result(name, verdict, "compositional", 1 if verdict is Verdict.PROVED else 0, 1,
                      time.perf_counter() - t0, reason, None,
                      {"premises": {n: v.label for n, v, _ in parts}, "reused": reused})

    return Entry(name, run, slow)


# --------------------------------------------------------------------------- monolithic
def step_spec(size: MachineSize) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """The interpreter's step as a spec over the state bits (runs on ints, numpy, z3)."""
    n, m, k, q = size.bits, size.addr_bits, size.pc_bits, size.ins_bits

    def spec(x: Mapping[str, Any]) -> dict[str, Any]:
        memory = [word([x[f"MEM[{j}].bit[{t}]"] for t in range(n)]) for j in range(size.words)]
        code = []
        for j in range(size.slots):
            bits = [x[f"INS[{j}].bit[{i}]"] for i in range(q)]
            code.append((word(bits[:m]), word(bits[m:2 * m]), word(bits[2 * m:])))
        pc = word([x[f"PC.bit[{i}]"] for i in range(k)])
        new_mem, new_pc = step_symbolic(memory, code, pc, size)
        out: dict[str, Any] = {}
        for j in range(size.words):
            for t in range(n):
                out[f"MEM[{j}].bit[{t}]"] = bit(new_mem[j], t)
        for j in range(size.slots):
            for i in range(q):
                out[f"INS[{j}].bit[{i}]"] = x[f"INS[{j}].bit[{i}]"]
        for i in range(k):
            out[f"PC.bit[{i}]"] = bit(new_pc, i)
        return out

    return spec


def monolithic(profile: str, size: MachineSize) -> Obligation:
    comp = build(profile, size)
    return Obligation(f"computer/{profile}/step/monolithic{_tag(size)}", comp.network,
                      Bits(tuple(comp.network.inputs.names)), step_spec(size),
                      {"words": size.words, "bits": size.bits, "slots": size.slots})


def invariant(profile: str, size: MachineSize) -> Obligation:
    """Every output coordinate is 0 or 1 on every canonical state.

    A checker layer is appended: d_o = ReLU(o - 1) + ReLU(-o), which is 0 exactly when the
    integer o is 0 or 1; the spec says every d_o is 0.
    """
    comp = build(profile, size)
    net = comp.network
    outs = net.outputs
    hid = Layout([f"{o}>1" for o in outs] + [f"{o}<0" for o in outs])
    rows: dict[str, tuple[dict[str, int], int]] = {}
    for o in outs:
        rows[f"{o}>1"] = ({o: 1}, -1)
        rows[f"{o}<0"] = ({o: -1}, 0)
    dev = Layout([f"dev({o})" for o in outs])
    l1 = Layer.from_rows(outs, hid, rows, label="bit check")
    l2 = Layer.from_rows(hid, dev, {f"dev({o})": ({f"{o}>1": 1, f"{o}<0": 1}, 0)
                                    for o in outs}, relu=False, label="deviation")
    checked = Network(net.layers + (l1, l2), f"{net.name}+bitcheck")
    return Obligation(f"computer/{profile}/invariant{_tag(size)}", checked,
                      Bits(tuple(net.inputs.names)), lambda x: {d: 0 for d in dev},
                      {"words": size.words, "bits": size.bits, "slots": size.slots})


def fold_check(profile: str, size: MachineSize, against: str = "") -> Obligation:
    """The folded network of ``profile`` equals its unfolded network (or, with ``against``,
    the network of that profile) on every canonical state."""
    comp = build(profile, size)
    if comp.unfolded is None:
        raise ValueError(f"profile={profile}: not a folded profile")
    other = build(against, size).network if against else comp.unfolded
    what = f"/{against}" if against else ""
    return fold_obligation(f"fold/{profile}{what}{_tag(size)}", other, comp.network,
                           Bits(tuple(comp.network.inputs.names)),
                           {"words": size.words, "bits": size.bits, "slots": size.slots})


EXHAUSTIVE_SIZES: tuple[Size, ...] = ((2, 2, 2), (2, 3, 2), (2, 4, 2), (4, 2, 2), (2, 2, 4))
SMT_SIZE: Size = (4, 4, 4)


def entries() -> list[Entry]:
    """Every computer obligation, for every profile."""
    out: list[Entry] = []
    for size in COMPOSITIONAL_SIZES:
        out.append(contracts_entry(MachineSize(*size)))
    for profile in PROFILES:
        folded = profile in FOLDED_PROFILES
        for size in COMPOSITIONAL_SIZES:
            if folded and size[0] > 16:
                # Folding composes the read layer with the fetch sum: M N K m weights, 8 million
                # at this size; the fold and every step proof cover the smaller sizes.
                continue
            ms = MachineSize(*size)
            out.append(structure_entry(profile, ms, slow=size[0] > 16))
            out.append(compositional_entry(profile, ms, slow=size[0] > 16))
        for size in EXHAUSTIVE_SIZES:
            out += exhaustive_step_entries(profile, MachineSize(*size))
        ms = MachineSize(*SMT_SIZE)
        out.append(of(f"computer/{profile}/step/monolithic{_tag(ms)}",
                      partial(monolithic, profile, ms), method="smt", slow=True))
        if not folded:
            continue
        for against in ("", "paper-minimal"):
            what = f"/{against}" if against else ""
            for size in EXHAUSTIVE_SIZES:
                es = MachineSize(*size)
                out.append(of(f"fold/{profile}{what}{_tag(es)}",
                              partial(fold_check, profile, es, against),
                              method="exhaustive"))
            out.append(of(f"fold/{profile}{what}{_tag(ms)}",
                          partial(fold_check, profile, ms, against),
                          method="smt", slow=True))
    return out
