"""Random bad (and some good) input at the TomoPy stand-in ``tomopy_dip.recon``.

Whatever the shapes, dtypes, angles and keywords, ``recon`` either refuses with a
``TypeError`` / ``ValueError`` / ``MemoryError`` whose message names an argument, or returns a
finite float32 array of the expected shape. (A fit whose loss diverges raises the engine's
documented ``FloatingPointError``, which names ``lr``.) Any other exception, or a message that
names no argument, fails. Most examples are refused by the validation; the valid ones are tiny
(at most 9 detector pixels, 9 slices, 3 iterations of a 2-scale network).

What the fuzzing found (a grid too small for the network, angles or a centre given as text, a
learning rate beyond float32, a result too large to allocate) is pinned by the tests at the end.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, note, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import tomopy_dip  # noqa: E402
from tomopy_dip.options import KEYWORDS  # noqa: E402

#: A tiny 2-scale network (valid for grids of 3 pixels and more): valid calls stay fast.
TINY = {"channels": (4, 4), "skip_channels": (0, 2), "progress": False}
UNKNOWN = ("num_iters", "colour", "filter")
#: Names a refusal may cite: the arguments of ``recon`` and every keyword.
ARGUMENTS = ("tomo", "theta", "center", "sinogram_order", "algorithm", "init_recon", "ncore",
             "nchunk", *KEYWORDS, *UNKNOWN)
NAMES = re.compile(r"\b(" + "|".join(map(re.escape, ARGUMENTS)) + r")\b")


DTYPES = [np.float32, np.float64, np.float16, np.int16, np.uint8, np.bool_, np.complex64, object, "U3"]
MISSING = object()  # "do not pass this keyword"


def _array(shape: tuple, dtype, rng: np.random.Generator, nan: bool) -> np.ndarray:
    values = rng.random(shape) * 3
    if nan and values.size:
        values.flat[0] = np.nan
    if dtype == "U3":
        return values.round(1).astype("U3")
    if dtype is object:
        out = np.empty(shape, dtype=object)
        out[...] = "x" if values.size % 2 else None
        return out
    with np.errstate(invalid="ignore"):
        return values.astype(dtype)


@st.composite
def calls(draw):
    """``(tomo, theta, kwargs)`` of one call: each part is bad with a probability of about 1/5,
    so single faults, several faults and valid calls (about one in five) all occur."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))

    def bad() -> bool:
        return draw(st.integers(0, 9)) >= 8  # hypothesis starts from 0: the simplest call is valid

    if bad():
        ndim = draw(st.integers(0, 3))
        shape = tuple(draw(st.lists(st.sampled_from([0, 1, 1, 2, 3, 5, 9]), min_size=ndim, max_size=ndim)))
    else:
        shape = (draw(st.integers(2, 9)), draw(st.integers(1, 3)), draw(st.integers(3, 9)))
    dtype = draw(st.sampled_from(DTYPES if bad() else [np.float32, np.float64, np.float16, np.int16]))
    tomo = _array(shape, dtype, rng, nan=bad())
    sinogram_order = draw(st.booleans())
    if sinogram_order and tomo.ndim == 3:
        tomo = np.ascontiguousarray(tomo.swapaxes(0, 1))
    nproj = shape[0] if len(shape) == 3 else (shape[-2] if len(shape) >= 2 else 1)
    theta_kind = draw(st.sampled_from(["wrong_length", "degrees", "nan", "all_equal", "2d", "scalar", "strings",
                                       "none"])) if bad() else "radians"
    theta = {
        "radians": lambda: np.linspace(0, np.pi, nproj, endpoint=False),
        "wrong_length": lambda: np.linspace(0, np.pi, max(nproj + draw(st.sampled_from([-1, 1, 7])), 0)),
        "degrees": lambda: np.linspace(0, 180, nproj),
        "nan": lambda: np.r_[np.linspace(0, np.pi, max(nproj - 1, 0)), np.nan],
        "all_equal": lambda: np.full(nproj, 0.3),
        "2d": lambda: np.linspace(0, np.pi, nproj)[:, None],
        "scalar": lambda: 0.5,
        "strings": lambda: ["a"] * nproj,
        "none": lambda: None,
    }[theta_kind]()
    kw = dict(TINY, sinogram_order=sinogram_order)
    choices = {  # (good values, bad values)
        "num_iter": ([1, 2, 3], [-1, 2.5, 1e12, "3", True, None]),
        "ncore": ([MISSING, 1, 2, 64], [0, -1, 1.5, True, "2"]),
        "nchunk": ([MISSING, 0, 1, 2, 10**9], [-2, 2.5, "1"]),
        "num_gridx": ([MISSING, None, 3, 4, 9], [0, -3, 16.5, "8"]),
        "lr": ([MISSING, 1e-3, 0.5, 1e8], [np.nan, np.inf, -1.0, 0.0, "fast", 1e30, 1e300]),
        "center": ([MISSING, None], [np.nan, "middle", np.zeros(7), -1e9]),
        "algorithm": (["dip", tomopy_dip.dip], ["nope", 42, None]),
    }
    for name, (good, wrong) in choices.items():
        value = draw(st.sampled_from(wrong if bad() else good))
        if value is not MISSING:
            kw[name] = value
    if draw(st.integers(0, 9)) == 9:
        kw[draw(st.sampled_from(UNKNOWN))] = 1
    return tomo, theta, kw


def _expected_shape(tomo: np.ndarray, kw: dict) -> tuple:
    nslices = tomo.shape[0] if kw["sinogram_order"] else tomo.shape[1]
    gx = kw.get("num_gridx") or tomo.shape[2]
    return nslices, gx, tomo.shape[2]


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(call=calls())
def test_recon_refuses_clearly_or_returns_a_finite_image(call):
    tomo, theta, kw = call
    note(f"tomo {tomo.dtype} {tomo.shape}, theta {np.asarray(theta, dtype=object).shape}: {theta!r}, "
         f"keywords {kw}")
    try:
        out = tomopy_dip.recon(tomo, theta, **kw)
    except Exception as exc:
        msg = str(exc)
        note(f"{type(exc).__name__}: {msg}")
        if isinstance(exc, FloatingPointError):  # divergence: documented, and it names lr
            assert "lr=" in msg and "NaN or infinite" in msg, msg
            return
        assert isinstance(exc, (TypeError, ValueError, MemoryError)), f"unexpected {type(exc).__name__}: {msg}"
        assert NAMES.search(msg), f"{type(exc).__name__} names no argument: {msg}"
        return
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    assert out.shape == _expected_shape(tomo, kw)
    assert np.all(np.isfinite(out))


# ---------------------------------------------------------------------------- what the fuzzing found
def _refusal(**kw) -> str:
    """Call ``recon`` with one fault; the refusal must be a TypeError/ValueError/MemoryError."""
    theta = kw.pop("theta", np.linspace(0, np.pi, 4, endpoint=False))
    tomo = np.random.default_rng(0).random((4, 1, 9)).astype(np.float32)
    with pytest.raises((TypeError, ValueError, MemoryError)) as err:
        tomopy_dip.recon(tomo, theta, algorithm="dip", **{**TINY, "num_iter": 1, **kw})
    return str(err.value)


@pytest.mark.parametrize("n", [1, 2])
def test_grid_smaller_than_network(n):
    """A grid too small for the network's scales is refused before the fit (it used to reach
    torch's GroupNorm: 'Expected more than 1 value per channel when training')."""
    msg = _refusal(num_gridx=n, num_gridy=n)
    assert re.search(r"num_gridx x num_gridy = \d+ x \d+ is too small for a network of 2 scales", msg), msg


def test_theta_of_strings():
    assert re.search(r"^theta must be numbers", _refusal(theta=["a"] * 4))


@pytest.mark.parametrize("center", ["middle", object()])
def test_center_not_a_number(center):
    assert re.search(r"^center must be a number", _refusal(center=center))


def test_lr_beyond_float32():
    assert re.search(r"^lr must be at most", _refusal(lr=1e300))


def test_a_result_too_large_for_memory_is_refused_before_it_is_allocated():
    assert re.search(r"num_gridx x num_gridy = 1000000 x 1000000 .* needs", _refusal(num_gridx=10**6, num_gridy=10**6))
