"""The fast engine against the reference: Network.forward, the interpreter, and itself one by one.

:mod:`constructions.computer.runtime` must give, on every input in its box, exactly what the
reference evaluation gives, and run every corpus program on every profile to the interpreter's final
state, step count and halting verdict. Its float32 variant must refuse wherever the plan's
partial-sum bound does not prove it exact.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from constructions.computer import ALL_PROFILES, PROFILES, Computer, build
from constructions.computer.runtime import (
    LIMITS,
    Engine,
    choose_arithmetic,
    share_partial_sums,
)
from constructions.machine.asm import assemble, check_expected, load
from constructions.machine.subleq import MachineSize, State, run
from verify.errors import ParameterError, ShapeError
from verify.layout import Layout
from verify.network import Layer, Network

CORPUS = sorted((Path(__file__).resolve().parents[2] / "constructions" / "programs")
                .glob("*.sq"))
MAX_STEPS = 5000
COMMON = MachineSize(16, 16, 64)  # every corpus program fits; the whole corpus is one batch
SMALL = (MachineSize(4, 4, 4), MachineSize(8, 8, 8))  # float32-exact sizes


@functools.cache
def computer(profile: str, size: MachineSize) -> Computer:
    return build(profile, size)


@functools.cache
def engine(profile: str, size: MachineSize, dtype: str = "auto", share: bool = True,
           fast: bool = True) -> Engine:
    return Engine(computer(profile, size), dtype, share=share, fast=fast)


def reference(eng: Engine, x: np.ndarray) -> np.ndarray:
    net = eng.network
    return net.forward(x, net.plan(eng.box).arithmetic)


def random_states(size: MachineSize, count: int, seed: int) -> list[State]:
    """Random valid states: every memory word, instruction and PC uniformly drawn."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        memory = tuple(int(v) for v in rng.integers(0, 1 << size.bits, size.words))
        code = tuple((int(rng.integers(size.words)), int(rng.integers(size.words)),
                      int(rng.integers(size.slots))) for _ in range(size.slots))
        out.append(State(memory, code, int(rng.integers(size.slots))))
    return out


def assert_matches_interpreter(eng: Engine, states: list[State], max_steps: int) -> None:
    """One batch run equals the interpreter on every machine: state, steps, halted."""
    assert eng.computer is not None
    size = eng.computer.size
    got = eng.run(states, max_steps)
    assert len(got) == len(states)
    for i, state in enumerate(states):
        want = run(state, size, max_steps)
        m = got.machine(i)
        assert (m.state, m.steps, m.halted, m.reason) == (want.state, want.steps, want.halted,
                                                          want.reason), f"machine {i}"


# --------------------------------------------------------------------------- corpus
@pytest.mark.parametrize("profile", PROFILES)
def test_corpus_as_one_batch_equals_interpreter(profile: str) -> None:
    programs = [assemble(p.read_text(encoding="utf-8"), str(p), words=COMMON.words,
                         bits=COMMON.bits, slots=COMMON.slots) for p in CORPUS]
    states = [p.state for p in programs] * 2  # 28 machines: the batch gets compacted
    eng = engine(profile, COMMON)
    got = eng.run(states, MAX_STEPS)
    assert got.halted.all()
    for i, program in enumerate(programs * 2):
        m = got.machine(i)
        want = run(program.state, COMMON, MAX_STEPS)
        assert (m.state, m.steps) == (want.state, want.steps), CORPUS[i % len(CORPUS)].name
        assert check_expected(program, m.state) == []


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_corpus_program_at_its_own_size(profile: str, path: Path) -> None:
    program = load(path)
    assert_matches_interpreter(engine(profile, program.size), [program.state], MAX_STEPS)


def test_step_limit_stops_where_the_interpreter_stops() -> None:
    program = load(CORPUS[[p.stem for p in CORPUS].index("triangle")])
    eng = engine("paper-minimal", program.size)
    for limit in (0, 1, 7, 100):
        assert_matches_interpreter(eng, [program.state], limit)


# --------------------------------------------------------------------------- random programs
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), profile=st.sampled_from(PROFILES),
       size=st.sampled_from(SMALL), limit=st.integers(0, 40))
def test_random_programs_equal_interpreter(seed: int, profile: str, size: MachineSize,
                                           limit: int) -> None:
    assert_matches_interpreter(engine(profile, size), random_states(size, 20, seed), limit)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), profile=st.sampled_from(PROFILES),
       size=st.sampled_from(SMALL))
def test_batch_equals_one_by_one(seed: int, profile: str, size: MachineSize) -> None:
    eng = engine(profile, size)
    states = random_states(size, 24, seed)
    batch = eng.run(states, 30)
    for i, s in enumerate(states):
        alone = eng.run([s], 30)
        assert np.array_equal(alone.states[0], batch.states[i])
        assert (alone.steps[0], alone.halted[0]) == (batch.steps[i], batch.halted[i])
    chunked = Engine(computer(profile, size), chunk_bytes=5 * eng.slots * eng.dtype.itemsize)
    assert chunked.columns == 5
    again = chunked.run(states, 30)  # five chunks of at most five machines
    assert np.array_equal(again.states, batch.states)
    assert np.array_equal(again.steps, batch.steps)
    assert np.array_equal(again.halted, batch.halted)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), profile=st.sampled_from(PROFILES),
       size=st.sampled_from(SMALL),
       variant=st.sampled_from([("auto", True, True), ("int64", True, True),
                                ("float32", True, True), ("auto", False, True),
                                ("auto", True, False), ("float32", False, False)]))
def test_step_equals_reference_on_every_bit_pattern(seed: int, profile: str,
                                                    size: MachineSize,
                                                    variant: tuple[str, bool, bool]) -> None:
    """Any 0/1 vector is a state; the engine's step equals Network.forward on 33 of them."""
    eng = engine(profile, size, *variant)
    x = np.random.default_rng(seed).integers(0, 2, (33, eng.width))
    assert np.array_equal(eng.step(x), reference(eng, x))


def test_float32_engine_equals_exact_engine_where_it_is_allowed() -> None:
    size = MachineSize(8, 8, 16)
    exact, f32 = engine("paper", size), engine("paper", size, "float32")
    assert f32.bound < LIMITS["float32"] and f32.dtype == np.float32
    states = random_states(size, 40, 7)
    a, b = exact.run(states, 60), f32.run(states, 60)
    assert np.array_equal(a.states, b.states) and np.array_equal(a.steps, b.steps)
    assert np.array_equal(a.halted, b.halted)


# --------------------------------------------------------------------------- structure
def test_identity_layers_and_copies_cost_nothing() -> None:
    comp = computer("paper", SMALL[1])
    eng = engine("paper", SMALL[1])
    facts = eng.describe()
    assert facts["identity_layers_skipped"] == len(comp.identity_layers()) > 0
    assert facts["copies_aliased"] > 0 and eng.nnz < comp.network.nnz
    assert facts["arithmetic"] == "int32"
    minimal = engine("paper-minimal", SMALL[1])
    assert minimal.nnz == eng.nnz  # the identity padding adds no work at all


def test_shared_sums_regroup_every_row_exactly() -> None:
    for profile in PROFILES:
        shared, plain = engine(profile, SMALL[1]), engine(profile, SMALL[1], share=False)
        assert shared.nnz < plain.nnz
        x = np.random.default_rng(3).integers(0, 2, (50, shared.width))
        assert np.array_equal(shared.step(x), plain.step(x))


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.lists(st.tuples(st.integers(0, 6), st.integers(-3, 3)), max_size=6),
                     max_size=12),
       x=st.lists(st.integers(-5, 5), min_size=7, max_size=7))
def test_share_partial_sums_preserves_every_row(rows: list[list[tuple[int, int]]],
                                                x: list[int]) -> None:
    rows = [list(dict(r).items()) for r in rows]  # one entry per column, as in a CSR row
    sums, new_rows = share_partial_sums(rows)
    value = [sum(w * x[c] for c, w in s) for s in sums]
    for old, new in zip(rows, new_rows, strict=True):
        got = sum(w * (x[c] if c >= 0 else value[-1 - c]) for c, w in new)
        assert got == sum(w * x[c] for c, w in old)


# --------------------------------------------------------------------------- generic networks
def _random_network(seed: int, width: int, depth: int) -> Network:
    """Random layers with copy rows mixed in, some without ReLU, looping on one layout."""
    rng = np.random.default_rng(seed)
    names = [f"x{i}" for i in range(width)]
    layers = []
    for d in range(depth):
        ins = Layout(names if d == 0 else [f"h{d}_{i}" for i in range(width)])
        outs = Layout(names if d == depth - 1 else [f"h{d + 1}_{i}" for i in range(width)])
        entries = []
        for r in range(width):
            if rng.random() < 0.4:
                entries.append((r, int(rng.integers(width)), 1))  # a copy (or a near copy)
            else:
                picks = rng.choice(width, min(width, int(rng.integers(1, 4))), replace=False)
                entries += [(r, int(c), int(rng.integers(-3, 4))) for c in picks]
        bias = [int(b) if rng.random() < 0.5 else 0 for b in rng.integers(-2, 3, width)]
        layers.append(Layer.from_entries(ins, outs, entries, bias, relu=bool(rng.random() < 0.7),
                                         label=f"L{d}"))
    return Network(tuple(layers), f"random{seed}")


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), width=st.integers(1, 9), depth=st.integers(1, 5))
def test_random_networks_step_equals_python_integers(seed: int, width: int, depth: int) -> None:
    """Negative inputs: a ReLU copy of a coordinate that can be negative must be computed."""
    net = _random_network(seed, width, depth)
    box = [(-2, 2)] * width
    x = np.random.default_rng(seed).integers(-2, 3, (17, width))
    want = net.forward(x, "python").astype(np.int64)
    for share in (True, False):
        for fast in (True, False):
            eng = Engine(net, box=box, share=share, fast=fast)
            assert np.array_equal(eng.step(x), want)


# --------------------------------------------------------------------------- refusals
def _big_network(weight: int) -> Network:
    ins, outs = Layout(["a", "b"]), Layout(["a", "b"])
    return Network((Layer.from_entries(ins, outs, [(0, 0, weight), (1, 1, 1)]),), "big")


def test_float32_engine_refuses_when_the_bound_is_too_big() -> None:
    Engine(_big_network(1 << 23), "float32")  # 2^23 + ... < 2^24: allowed
    with pytest.raises(ParameterError, match=r"max_partial_sum=16777216: need a bound below "
                                             r"2\^24"):
        Engine(_big_network(1 << 24), "float32")
    # A computer's bound is its precision certificate (6 * 2^N - 3 for paper): float32 at
    # N = 16, where interval arithmetic alone (1,591,714,083) would refuse it; refused from
    # N = 22 on, naming the bound.
    assert Engine(computer("paper", MachineSize(16, 16, 64)), "float32").arithmetic == "float32"
    with pytest.raises(ParameterError, match="max_partial_sum=1591714083"):
        Engine(computer("paper", MachineSize(16, 16, 64)), "float32", bounds="interval")
    with pytest.raises(ParameterError, match="max_partial_sum=25165821"):
        Engine(computer("paper", MachineSize(2, 22, 2)), "float32")


def test_integer_arithmetic_follows_the_bound() -> None:
    assert Engine(_big_network((1 << 31) - 1)).arithmetic == "int32"
    assert Engine(_big_network(1 << 31)).arithmetic == "int64"
    with pytest.raises(ParameterError, match="int32 engine"):
        Engine(_big_network(1 << 31), "int32")
    with pytest.raises(ParameterError, match="below 2\\^62"):
        Engine(_big_network(1 << 62))
    assert choose_arithmetic(100, "float32") == "float32"
    with pytest.raises(ParameterError, match="dtype='float16'"):
        choose_arithmetic(1, "float16")


def test_a_weight_that_only_multiplies_zero_must_still_fit() -> None:
    net = _big_network(1 << 40)
    with pytest.raises(ParameterError, match="magnitude below"):
        Engine(net, box=[(0, 0), (0, 1)], dtype="int32")


def test_states_outside_the_box_are_refused() -> None:
    eng = engine("paper", SMALL[0])
    x = np.zeros((2, eng.width), dtype=np.int64)
    x[1, 3] = 2
    with pytest.raises(ParameterError, match="outside the box"):
        eng.step(x)
    with pytest.raises(ParameterError, match="outside the box"):
        eng.run(x, 3)
    with pytest.raises(ShapeError, match="shape"):
        eng.step(np.zeros((1, eng.width + 1), dtype=np.int64))
    with pytest.raises(ParameterError, match="max_steps"):
        eng.run(x[:1], -1)


def test_a_loop_that_leaves_the_box_is_stopped() -> None:
    lay = Layout(["a"])
    double = Network((Layer.from_entries(lay, lay, [(0, 0, 2)]),), "double")
    eng = Engine(double, box=[(0, 3)])
    assert eng.step(np.array([[1]])).tolist() == [[2]]
    with pytest.raises(ParameterError, match="after step 2"):
        eng.run(np.array([[1]]), 10)


def test_a_network_that_does_not_loop_steps_but_does_not_run() -> None:
    ins, outs = Layout(["a", "b"]), Layout(["y"])
    net = Network((Layer.from_entries(ins, outs, [(0, 0, 2), (0, 1, -3)], [1]),), "open")
    eng = Engine(net)
    x = np.array([[0, 0], [1, 0], [0, 1], [1, 1]])
    assert eng.step(x).tolist() == [[1], [3], [0], [0]]
    with pytest.raises(ShapeError, match="cannot be looped"):
        eng.run(x, 1)

def test_empty_batch() -> None:
    eng = engine("paper", SMALL[0])
    got = eng.run([], 5)
    assert len(got) == 0 and got.states.shape == (0, eng.width)


# --------------------------------------------------------------------------- the benchmark
def test_bench_run_command_on_a_tiny_ladder(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    """``loopmlp bench run``: JSON fields, refusals named, the docs page; a one-size ladder."""
    import json
    from io import StringIO

    import loopmlp.bench.run as bench_run
    from loopmlp.cli import main

    monkeypatch.setattr(bench_run, "LADDER", ((8, 5, 8),))  # countdown.sq's n: 10 fits
    monkeypatch.setattr(bench_run, "TARGET_SECONDS", 0.002)
    monkeypatch.setattr(bench_run, "MEASURE_SECONDS", 0.01)
    monkeypatch.setattr(bench_run, "MIN_STEPS", 2)
    monkeypatch.setattr(bench_run, "BATCHES", (1, 64))
    # the reference only on one machine: its batched float products may use several BLAS
    # threads, which crawl on a loaded machine
    monkeypatch.setitem(bench_run.WORK_LIMIT, "reference", 1.0)
    out, err = StringIO(), StringIO()
    code = main(["bench", "run", "--quick", "--json", "--write-docs", "--docs-dir",
                 str(tmp_path)], out, err)
    assert code == 0, err.getvalue()
    doc = json.loads(out.getvalue())
    assert doc["command"] == "bench run" and doc["quick"] is True
    rows = doc["rows"]
    assert {(r["profile"], r["engine"]) for r in rows} == {
        (p, e) for p in ALL_PROFILES for e in bench_run.ENGINES}
    for r in rows:
        assert r["size"] == {"words": 8, "bits": 5, "slots": 8}
        if r["refused"] is not None:  # float32 only where the bound passes 2^24, named
            assert r["engine"] == "float32" and "2^24" in r["refused"], r
            continue
        assert r["us_per_step"] > 0
        assert all(v is None or v > 0 for v in r["rates"].values())
    sparse = [r for r in rows if r["engine"] == "sparse"]
    assert all(r["work_nnz"] < r["network_nnz"] for r in sparse)
    assert doc["interpreter"][0]["steps"] > 0
    assert len(doc["targets"]) == 2 + len(ALL_PROFILES)
    assert {t["status"] for t in doc["targets"]} == {"not measured"}
    page = (tmp_path / bench_run.DOC_NAME).read_text(encoding="utf-8")
    assert "| 8,5,8 | paper | sparse | int32 |" in page and "## Targets" in page


def test_bench_run_names_the_float32_refusal() -> None:
    import loopmlp.bench.run as bench_run

    comp = computer("paper", COMMON)
    x = comp.encode(bench_run.one_machine(COMMON))[None, :]
    row = bench_run.measure_engine(comp, "float32", 0.0, x, x)
    assert row.refused is None and row.arithmetic == "float32"  # certified at N = 16
    wide = MachineSize(8, 22, 8)
    comp = computer("paper", wide)
    x = comp.encode(bench_run.one_machine(wide))[None, :]
    row = bench_run.measure_engine(comp, "float32", 0.0, x, x)
    assert row.refused is not None and "max_partial_sum=25165821" in row.refused
    assert "below 2^24" in row.refused
    assert bench_run.cells(bench_run.Report(False), row)[3] == "refused"

