"""float32 against exact arithmetic at the largest certified size, and the first failing size.

The certificate (``loopmlp precision``) proves float32 exact in any summation order up to N = 21
bits (``paper``) and N = 20 (``compact``), and in the natural order up to N = 23 for both. Here
the certified float32 engine runs corpus programs and random states at those sizes against the
exact engine, the interpreter and the exact forward pass; then, one bit past the natural-order
certificate, a concrete canonical state is found on which float32 (and, past theirs, bfloat16
and float16, emulated by rounding to 8 and 11 significant bits after every operation) gives a
wrong next state: the natural-order certificate is tight.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from constructions.computer import build
from constructions.computer.runtime import Engine
from constructions.machine import asm, subleq
from constructions.machine.subleq import MachineSize, State
from verify.exact.precision import forward_float32, forward_rounded

CORPUS = Path(__file__).resolve().parents[2] / "constructions" / "programs"
PROGRAMS = ("countdown.sq", "multiply.sq", "gcd.sq", "fibonacci.sq")
CERTIFIED = {"paper": 21, "compact": 20}


@pytest.mark.parametrize("profile", sorted(CERTIFIED))
def test_certified_float32_engine_runs_corpus_programs_exactly(profile: str) -> None:
    bits = CERTIFIED[profile]
    for name in PROGRAMS:
        program = asm.load(CORPUS / name, bits=bits)
        comp = build(profile, program.size)
        f32 = Engine(comp, "float32", bounds="certified")
        assert f32.dtype == np.float32 and f32.bound < 1 << 24
        got = f32.run([program.state], 5000).machine(0)
        want = subleq.run(program.state, program.size, 5000)
        assert got.state == want.state and got.steps == want.steps and got.halted
        assert asm.check_expected(program, got.state) == []


@pytest.mark.parametrize("profile", sorted(CERTIFIED))
def test_certified_float32_engine_steps_random_states_exactly(profile: str) -> None:
    size = MachineSize(4, CERTIFIED[profile], 4)
    comp = build(profile, size)
    rng = np.random.default_rng(7)
    x = rng.integers(0, 2, (64, len(comp.network.inputs)))
    ones = (1 << size.bits) - 1  # the largest prefix sums: 0 - all ones, all ones - all ones
    x[0] = comp.encode(State((0, ones, 0, 0), ((0, 1, 0),) * 4, 0))
    x[1] = comp.encode(State((ones,) * 4, ((0, 1, 3),) * 4, 3))
    exact = comp.network.forward(x, "int64")
    assert np.array_equal(Engine(comp, "float32", bounds="certified").step(x), exact)
    assert np.array_equal(forward_float32(comp.network, x), exact)


def test_float32_is_refused_past_the_certificate() -> None:
    from verify.errors import ParameterError

    with pytest.raises(ParameterError, match="max_partial_sum=25165821"):
        Engine(build("paper", MachineSize(2, 22, 2)), "float32", bounds="certified")


def _first_wrong(profile: str, bits: int, fmt: str, tries: int = 200) -> State | None:
    """A canonical state whose next state the format gets wrong (natural order), if any."""
    size = MachineSize(2, bits, 2)
    comp = build(profile, size)
    rng = np.random.default_rng(1)
    states = [State(tuple(int(v) for v in rng.integers(0, 1 << bits, 2)),
                    ((0, 1, 1), (1, 0, 0)), 0) for _ in range(tries)]
    x = np.stack([comp.encode(s) for s in states])
    exact = comp.network.forward(x, "int64")
    got = forward_rounded(comp.network, x, fmt)
    if fmt == "float32":  # the emulation is IEEE float32
        assert np.array_equal(got, forward_float32(comp.network, x))
    wrong = np.flatnonzero((got != exact).any(axis=1))
    if not wrong.size:
        return None
    s = states[int(wrong[0])]
    assert comp.decode(exact[wrong[0]]) == subleq.step(s, size)  # exact = the interpreter
    return s


@pytest.mark.parametrize("profile", ["paper-minimal", "compact"])
@pytest.mark.parametrize("fmt,certified", [("float32", 23), ("bfloat16", 7), ("float16", 10)])
def test_first_failing_size_is_the_natural_order_limit_plus_one(profile: str, fmt: str,
                                                                certified: int) -> None:
    assert _first_wrong(profile, certified, fmt) is None  # proved exact; checked here too
    bad = _first_wrong(profile, certified + 1, fmt)
    assert bad is not None, f"{fmt} found no wrong step at N={certified + 1}"
