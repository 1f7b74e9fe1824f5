"""The looped-Transformer kind, the layout of Giannou et al.'s SUBLEQ machine, the ten-layer
reconstruction, its checked float runs and the ``.npz`` import."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from constructions.looped_transformer import examples, npz_io, runner, subleq_net
from constructions.looped_transformer.layout import DecodeError, Layout
from constructions.looped_transformer.network import layer_forward, softmax_columns
from constructions.machine import subleq
from verify.errors import InputError, ParameterError

LAY = Layout(2, 4, 4, 6, 4)


def _countdown(lay: Layout = LAY) -> subleq.State:
    # word 1 counts down from 5 by word 0 (= 1), then command 2 loops on itself
    return subleq.make_state(lay.machine(), [1, 5, 0, 0], [(0, 1, 2), (2, 2, 0), (2, 2, 2),
                                                           (2, 2, 3)], 0)


def test_layout_rows_follow_their_counts() -> None:
    lay = Layout(2, 10, 11, 15, 5)
    assert lay.d == 8 * 5 + 3 * 15 + max(15, 30) + 1
    assert lay.n == 23 and lay.first_command == 12
    assert (lay.mem, lay.scratch_a, lay.pc, lay.buffer, lay.indicator) == (15, 30, 75, 85, 115)
    assert len(lay.row_names()) == lay.d


@pytest.mark.parametrize(("kw", "name"), [({"s": 0}, "s"), ({"bits": 1}, "bits"),
                                          ({"logn": 2}, "logn"), ({"m": 10**9}, "m")])
def test_layout_refuses_bad_sizes(kw: dict[str, int], name: str) -> None:
    args = {"s": 2, "m": 4, "commands": 4, "bits": 6, "logn": 4} | kw
    with pytest.raises(ParameterError, match=name):
        Layout(**args)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.integers(0, 63), min_size=4, max_size=4),
       st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)), min_size=4,
                max_size=4), st.integers(0, 3))
def test_encode_decode_round_trip(memory: list[int], code: list[tuple[int, int, int]],
                                  pc: int) -> None:
    state = subleq.make_state(LAY.machine(), memory, code, pc)
    X = LAY.encode(state, code[0])
    assert set(np.unique(X)) <= {-1, 0, 1}
    assert LAY.decode(X) == state
    assert LAY.decode(X * 0.6) == state  # read by sign


def test_words_are_twos_complement_msb_first() -> None:
    assert LAY.word(-1).tolist() == [1] * 6
    assert LAY.word(5).tolist() == [-1, -1, -1, 1, -1, 1]
    assert LAY.address(0).tolist() == [-1, -1, -1, -1]


def test_decode_names_the_bad_entry() -> None:
    X = LAY.encode(_countdown()).astype(float)
    X[LAY.mem + 2, LAY.s + 1] = 0.0
    with pytest.raises(DecodeError, match="memory word 1"):
        LAY.decode(X)
    X = LAY.encode(_countdown()).astype(float)
    X[LAY.pc:LAY.pc + LAY.logn, 0] = LAY.address(1)  # a memory column is no command
    with pytest.raises(DecodeError, match="pc: column 1"):
        LAY.decode(X)


def test_softmax_without_max_subtraction_overflows() -> None:
    Z = np.array([[800.0, 1.0], [799.0, 2.0]])
    with np.errstate(over="ignore", invalid="ignore"):
        plain = softmax_columns(Z)
    stable = softmax_columns(Z, max_subtract=True)
    assert np.isnan(plain[0, 0]) and np.all(np.isfinite(plain[:, 1]))
    assert np.allclose(stable.sum(axis=0), 1.0)
    assert stable[0, 0] == pytest.approx(1 / (1 + np.exp(-1.0)))


def test_one_step_of_every_layer_kind() -> None:
    net = subleq_net.build(LAY, 100.0)
    assert [len(layer.heads) for layer in net.layers] == [1, 2] + [1] * 8
    net.check(LAY.d, LAY.n)
    state = _countdown()
    X = LAY.encode(state).astype(np.float64)
    for layer in net.layers:
        X = layer_forward(layer, X, net.lam)
    nxt = subleq.step(state, LAY.machine())
    assert np.array_equal(X, LAY.encode(nxt, state.code[0]))


def test_run_checked_agrees_and_stops_at_the_fixed_point() -> None:
    state = _countdown()
    r = runner.run_checked(subleq_net.build(LAY, 100.0), LAY, LAY.encode(state))
    want = subleq.run(state, LAY.machine(), 100)
    assert r.failure is None and r.halted
    assert (r.steps, r.state) == (want.steps, want.state)
    assert r.steps == 9 and r.state.memory[1] == 0


def test_factorial_example_is_right_at_100_and_wrong_at_10() -> None:
    lay, state = runner.state_of_program(examples.FACTORIAL)
    good = runner.run_checked(subleq_net.build(lay, 100.0), lay, lay.encode(state))
    assert good.failure is None and good.halted
    assert subleq.signed_memory(good.state, lay.machine())[2] == 5040
    bad = runner.run_checked(subleq_net.build(lay, 10.0), lay, lay.encode(state))
    assert bad.failure is not None and bad.failure.kind == "wrong" and bad.failure.step == 5


def test_nan_is_reported_with_its_layer() -> None:
    lay = Layout(2, 2, 125, 4, 8)  # n = 129 columns: lam * logn = 800 overflows exp
    state = subleq.make_state(lay.machine(), [1, 2], [(0, 1, 0)], 0)
    r = runner.run_checked(subleq_net.build(lay, 100.0), lay, lay.encode(state), max_steps=1)
    assert r.failure is not None and r.failure.kind == "non-finite"
    assert (r.failure.step, r.failure.layer) == (1, 0)
    ok = runner.run_checked(subleq_net.build(lay, 100.0), lay, lay.encode(state), max_steps=1,
                            max_subtract=True)
    assert ok.failure is None


def test_a_corrupted_weight_is_caught() -> None:
    net = subleq_net.build(LAY, 100.0)
    # the first unit of the adder's lowest output bit
    net.layers[4].W2[LAY.scratch_b + LAY.bits - 1, 6 * (LAY.bits - 1)] = 0.0
    r = runner.run_checked(net, LAY, LAY.encode(_countdown()))
    assert r.failure is not None and r.failure.kind in ("wrong", "undecodable")


# --------------------------------------------------------------------------- npz
def _saved(tmp_path: Path, **arrays: np.ndarray) -> Path:
    lay = LAY
    data = npz_io.to_bytes(npz_io.SavedNetwork(subleq_net.build(lay, 50.0), lay,
                                               lay.encode(_countdown())))
    z = np.load(io.BytesIO(data), allow_pickle=False)
    content = {k: z[k] for k in z.files}
    for k, v in arrays.items():
        if v is None:
            content.pop(k)
        else:
            content[k] = v
    path = tmp_path / "net.npz"
    np.savez(path, **content)
    return path


def test_npz_round_trip(tmp_path: Path) -> None:
    saved = npz_io.load(_saved(tmp_path))
    assert saved.layout == LAY and saved.net.lam == 50.0 and len(saved.net.layers) == 10
    ref = subleq_net.build(LAY, 50.0)
    for a, b in zip(saved.net.layers, ref.layers):
        assert np.array_equal(a.W1, b.W1) and np.array_equal(a.b2, b.b2)
        assert all(np.array_equal(x.V, y.V) for x, y in zip(a.heads, b.heads))
    r = runner.run_checked(saved.net, saved.layout, saved.X0)
    assert r.failure is None and r.halted


@pytest.mark.parametrize(("change", "match"), [
    ({"L3.W1": None}, "missing array 'L3.W1'"),
    ({"lam": None}, "missing scalar 'lam'"),
    ({"L0.V": np.zeros((3, 3))}, "L0.V: shape"),
    ({"L9.b2": np.full((LAY.d, LAY.n), np.nan)}, "L9.b2: non-finite"),
    ({"n": np.array(10**9)}, "layout"),
    ({"logn": np.array(2)}, "logn"),
    ({"L1.Q": np.zeros((4, LAY.d))}, "L1.Q: not expected"),
    ({"junk": np.zeros(2)}, "unexpected array 'junk'"),
    ({"X0": np.zeros((2, 2))}, "X0: shape"),
])
def test_npz_refusals(tmp_path: Path, change: dict[str, np.ndarray], match: str) -> None:
    with pytest.raises(InputError, match=match):
        npz_io.load(_saved(tmp_path, **change))


def test_npz_refuses_pickles_and_non_archives(tmp_path: Path) -> None:
    bad = tmp_path / "obj.npz"
    np.savez(bad, **{"lam": np.array([object()], dtype=object)})
    with pytest.raises(InputError, match="lam"):
        npz_io.load(bad)
    text = tmp_path / "text.npz"
    text.write_text("not a zip")
    with pytest.raises(InputError, match="not an .npz"):
        npz_io.load(text)


def test_npz_checks_sizes_before_reading(tmp_path: Path) -> None:
    # A header claiming a huge W1 is refused from the header alone.
    path = _saved(tmp_path)
    buf = io.BytesIO()
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(buf, "w") as dst:
        for item in src.namelist():
            if item == "L0.W1.npy":
                head = io.BytesIO()
                np.lib.format.write_array_header_1_0(
                    head, {"descr": "<f8", "fortran_order": False, "shape": (10**9, LAY.d)})
                dst.writestr(item, head.getvalue())
            else:
                dst.writestr(item, src.read(item))
    path.write_bytes(buf.getvalue())
    with pytest.raises(InputError, match="L0.b1: shape|bytes"):
        npz_io.load(path)
