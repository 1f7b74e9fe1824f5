"""The hand-set constructions against their languages, the file round trip, and the reduced
SRWM step against the kernel's full step."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from constructions.fwp.io import load, save
from constructions.fwp.languages import ABAB_DFA, Dfa, language, sample, strings
from constructions.fwp.models import init_state, run, step
from constructions.fwp.srwm import srwm_dfa
from proofs.fwp import construction, constructions
from verify.errors import LoopmlpError
from verify.real import ops
from verify.real.numbers import ARB, F64

NAMES = list(constructions())


@pytest.mark.parametrize("name", NAMES)
def test_construction_decides_sampled_strings(name: str) -> None:
    model, lang = construction(name)
    rng = random.Random(7)
    for _ in range(20):
        tokens = sample(lang, 40, rng)
        logits = run(model, F64, tokens)
        assert [int(np.argmax(lg)) for lg in logits] == lang.targets(tokens), lang.decode(tokens)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("suffix", ["npz", "safetensors"])
def test_file_round_trip_is_exact(name: str, suffix: str, tmp_path: Path) -> None:
    model, lang = construction(name)
    path = tmp_path / f"m.{suffix}"
    save(model, path)
    back = load(path, list(model.kinds), lang.alphabet, [layer.heads for layer, _ in model.blocks])
    for k, v in model.arrays().items():
        assert np.array_equal(v, back.arrays()[k]), k


def test_languages_targets() -> None:
    assert language("dyck1").targets(language("dyck1").encode("(()")) == [1, 1, 1]
    assert language("anbn").targets(language("anbn").encode("aabb")) == [0, 0, 1, 2]
    assert language("anbncn").targets(language("anbncn").encode("abc")) == [0, 2, 3]
    assert language("shuffle2").targets(language("shuffle2").encode("([)]")) == [2, 3, 1, 0]
    assert language("reset-dyck1").targets(language("reset-dyck1").encode("((1()")) == \
        [1, 1, 0, 1, 0]
    assert language("abab-star").targets(language("abab-star").encode("ababa")) == \
        [0, 0, 0, 1, 0]
    assert len(list(strings(language("dyck1"), 4))) == 6
    with pytest.raises(LoopmlpError, match="cannot follow"):
        language("anbn").encode("aba")


def test_dfa_validation() -> None:
    with pytest.raises(LoopmlpError, match="delta"):
        Dfa(("a",), ((3,),), (1,))
    with pytest.raises(LoopmlpError):
        Dfa.from_json({"alphabet": ["a"], "delta": "x", "accept": [1]})


def test_reduced_srwm_step_matches_the_kernel() -> None:
    from proofs.fwp_boxes import _constants, _zero, reduced_step

    model = srwm_dfa(ABAB_DFA)
    tokens = [0, 1, 0, 1, 1, 0, 0, 1, 0, 1]
    with ARB.context():
        c = _constants(model, ARB)
        w = _zero(model, ARB)
        st = init_state(model, ARB)
        for a in tokens:
            st_new, logits = step(model, ARB, st, a)
            w_new, logits_r = reduced_step(model, ARB, c, w, a)
            for lf, lr in zip(logits, logits_r):
                assert lf.overlaps(lr)
            for part in ("W_y", "W_q"):
                rebuilt = model.converted(ARB)[f"blocks.0.{part}"] + ops.outer(ARB, c.k[a],
                                                                               w_new[part])
                for x, y in zip(st_new[0][part].reshape(-1), rebuilt.reshape(-1)):
                    assert x.overlaps(y)
            st, w = st_new, w_new


def test_recdelta_witness_is_certified() -> None:
    from constructions.fwp.recdelta import rd_parity
    from proofs.fwp_leak import refute

    w = refute(rd_parity())
    assert 10**16 < w.zeros < 10**18
    assert (w.target, w.decision) == (0, 1)


def test_recdelta_without_leak_would_pass_longer() -> None:
    # a gate of 60 makes the leak e^20 times smaller: the witness moves out accordingly
    from constructions.fwp.recdelta import rd_parity
    from proofs.fwp_leak import refute

    assert refute(rd_parity(gate=60.0)).zeros > 10**24
