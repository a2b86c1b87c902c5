"""The differentiable ray transform: adjointness, agreement with ASTRA, autograd, backends, cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tomopy_dip import Geometry, RayTransform, get_operator
from tomopy_dip.physics.projector import estimate_matrix_bytes

BACKENDS = ("matrix", "astra")


def _geometry(beam: str, nproj: int = 24) -> Geometry:
    if beam == "parallel":
        theta = np.linspace(0, np.pi, nproj, endpoint=False)
        return Geometry(theta, 30, 16.25, 24, 20)
    theta = np.linspace(0, 2 * np.pi, nproj, endpoint=False)
    return Geometry(theta, 36, 16.7, 24, 20, beam="fanflat", source_origin=80.0,
                    origin_detector=40.0, detector_spacing=1.2)


@pytest.fixture(scope="module", params=[(b, be) for b in ("parallel", "fanflat") for be in BACKENDS],
                ids=lambda p: f"{p[0]}-{p[1]}")
def op(request):
    beam, backend = request.param
    return RayTransform(_geometry(beam), backend=backend)


def _rand(shape, seed):
    return torch.from_numpy(np.random.default_rng(seed).random(shape).astype(np.float32))


def test_backend_is_the_requested_one(op):
    assert op.backend in BACKENDS
    assert op.backend == op._backend.name


def test_adjointness_batched(op):
    """<A x, y> = <x, A^T y> for a batch of 3, to 1e-5 relative."""
    g = op.geometry
    x = _rand((3, *g.shape_image), 0)
    y = _rand((3, *g.shape_sino), 1)
    ax = op(x)
    aty = op.T(y)
    assert ax.shape == (3, *g.shape_sino) and aty.shape == (3, *g.shape_image)
    lhs = (ax.double() * y.double()).sum((1, 2))
    rhs = (x.double() * aty.double()).sum((1, 2))
    rel = ((lhs - rhs).abs() / lhs.abs()).max().item()
    assert rel < 1e-5, rel
    assert float(lhs.min()) > 0


def test_batch_equals_single(op):
    g = op.geometry
    x = _rand((3, *g.shape_image), 2)
    batched = op(x)
    for b in range(3):
        torch.testing.assert_close(op(x[b]), batched[b], rtol=1e-5, atol=1e-5)
    y = _rand((2, *g.shape_sino), 3)
    torch.testing.assert_close(op.adjoint(y)[1], op.adjoint(y[1]), rtol=1e-5, atol=1e-5)


def test_agrees_with_astra_create_sino(op):
    """Forward projection = ASTRA's own create_sino / create_backprojection with the same geometry."""
    import astra

    g = op.geometry
    x = _rand((2, *g.shape_image), 4)
    y = _rand(g.shape_sino, 5)
    pid = astra.create_projector(g.projector, g.astra_proj_geom(), g.astra_vol_geom())
    try:
        for b in range(2):
            sid, ref = astra.create_sino(x[b].numpy(), pid)
            astra.data2d.delete(sid)
            ours = op(x)[b].numpy()
            assert np.abs(ours - ref).max() <= 1e-5 * np.abs(ref).max()
        bid, bp = astra.create_backprojection(y.numpy(), pid)
        astra.data2d.delete(bid)
        ours = op.adjoint(y).numpy()
        assert np.abs(ours - bp).max() <= 1e-5 * np.abs(bp).max()
    finally:
        astra.projector.delete(pid)


def test_autograd_gives_the_adjoint(op):
    g = op.geometry
    x = _rand((2, *g.shape_image), 6).requires_grad_(True)
    up = _rand((2, *g.shape_sino), 7) - 0.5
    (op(x) * up).sum().backward()
    torch.testing.assert_close(x.grad, op.T(up), rtol=1e-5, atol=1e-5)
    # and the adjoint's gradient is the forward projection
    y = _rand((2, *g.shape_sino), 8).requires_grad_(True)
    down = _rand((2, *g.shape_image), 9) - 0.5
    (op.adjoint(y) * down).sum().backward()
    torch.testing.assert_close(y.grad, op(down), rtol=1e-5, atol=1e-5)


def test_gradient_of_a_weighted_quadratic_loss(op):
    """d/dx sum(w (A x)^2) = A^T (2 w A x)."""
    g = op.geometry
    x = _rand(g.shape_image, 10).requires_grad_(True)
    w = _rand(g.shape_sino, 11)
    loss = (op(x) ** 2 * w).sum()
    (grad,) = torch.autograd.grad(loss, x)
    expected = op.T(2 * op(x.detach()) * w)
    torch.testing.assert_close(grad, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("beam", ["parallel", "fanflat"])
def test_backends_agree(beam):
    g = _geometry(beam)
    a = RayTransform(g, backend="matrix")
    b = RayTransform(g, backend="astra")
    x = _rand((2, *g.shape_image), 12)
    y = _rand((2, *g.shape_sino), 13)
    torch.testing.assert_close(a(x), b(x), rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(a.T(y), b.T(y), rtol=1e-5, atol=1e-4)


def test_line_integrals_in_pixel_units():
    """A ray crossing L pixels of value 1 gives L (parallel, theta = 0 and pi/2)."""
    g = Geometry(np.array([0.0, np.pi / 2]), 40, 20.0, 24, 30)
    sino = get_operator(g)(torch.ones(24, 30)).numpy()
    x_cols = np.arange(30) - 15 + 20  # detector pixels hit by the 30 columns at theta = 0
    np.testing.assert_allclose(sino[0, x_cols], 24.0, rtol=1e-5)
    y_rows = (24 // 2 - 1 - np.arange(24)) + 20
    np.testing.assert_allclose(sino[1, y_rows], 30.0, rtol=1e-5)
    assert sino[0].sum() == pytest.approx(24 * 30, rel=1e-5)


def test_norm_matches_dense_svd():
    g = Geometry(np.linspace(0, np.pi, 10, endpoint=False), 16, 8.0, 12, 12)
    op = RayTransform(g, backend="matrix")
    dense = torch.stack([op(e.reshape(12, 12)).reshape(-1) for e in torch.eye(144)], 1).numpy()
    expected = np.linalg.norm(dense, 2)
    assert op.norm(iterations=200) == pytest.approx(expected, rel=1e-3)


def test_matrix_with_tiny_memory_limit_raises_clear_memory_error():
    g = _geometry("parallel")
    with pytest.raises(MemoryError) as info:
        RayTransform(g, backend="matrix", memory_limit=1000)
    msg = str(info.value)
    assert "memory_limit" in msg and "backend='astra'" in msg and "GiB" in msg


def test_auto_picks_astra_when_the_limit_is_tiny_and_matrix_otherwise():
    g = _geometry("parallel")
    assert RayTransform(g, backend="auto", memory_limit=1000).backend == "astra"
    assert RayTransform(g, backend="auto").backend == "matrix"
    assert get_operator(g, "auto", 1000).backend == "astra"


def test_estimate_matrix_bytes_is_close_to_the_real_size():
    g = Geometry(np.linspace(0, np.pi, 60, endpoint=False), 40, 20.0, 32, 32)
    op = RayTransform(g, backend="matrix")
    real = op._backend.nnz * 16
    est = estimate_matrix_bytes(g)
    assert 0.9 * real < est < 1.5 * real


@pytest.mark.parametrize("beam", ["parallel", "fanflat"])
def test_estimate_of_a_large_geometry_scales_a_small_sample(beam):
    """Beyond ESTIMATE_SIZE the estimate builds the matrix on a scaled-down grid: on 1100²
    it stays within 5 % of the non-zeros of the full-size matrix (measured on 10 angles)."""
    from tomopy_dip.physics.projector import _astra_matrix

    n, nproj = 1100, 10
    kw = dict(beam="fanflat", source_origin=2 * n, origin_detector=n, detector_spacing=1.3) if beam == "fanflat" else {}
    g = Geometry(np.linspace(0, np.pi, nproj, endpoint=False), ndet=n, center=n / 2 - 3.2, **kw)
    real = _astra_matrix(g).nnz * 16 * 1.05 + 8 * (nproj * n + n * n)
    assert abs(estimate_matrix_bytes(g) / real - 1) < 0.05


def test_matrix_budget_order(monkeypatch):
    from tomopy_dip.physics import projector

    monkeypatch.setenv(projector.MEMORY_ENV, "3e9")
    assert projector.matrix_budget(1000) == 1000 and projector.matrix_budget() == 3 * 10**9
    monkeypatch.delenv(projector.MEMORY_ENV)
    monkeypatch.setattr(projector, "_available_memory", lambda: 10**10)
    assert projector.matrix_budget() == int(projector.FREE_MEMORY_SHARE * 10**10)


def test_unknown_backend():
    with pytest.raises(ValueError, match="backend"):
        RayTransform(_geometry("parallel"), backend="gpu")


@pytest.mark.parametrize("shape", [(24, 21), (2, 3, 24, 20), (30,)])
def test_wrong_input_shape(shape):
    op = get_operator(_geometry("parallel"))
    with pytest.raises(ValueError, match="image"):
        op(torch.zeros(shape))
    with pytest.raises(ValueError, match="sinogram"):
        op.adjoint(torch.zeros(shape))


def test_accepts_numpy_and_float64():
    op = get_operator(_geometry("parallel"))
    x = np.random.default_rng(0).random((24, 20))
    a = op(x)
    b = op(torch.from_numpy(x))
    assert a.dtype == torch.float32 and b.dtype == torch.float32
    torch.testing.assert_close(a, op(torch.from_numpy(x.astype(np.float32))))
    torch.testing.assert_close(b, a)


def test_get_operator_is_cached_by_geometry_value():
    g1 = _geometry("parallel")
    g2 = _geometry("parallel")  # equal, but a different object
    assert g1 is not g2 and g1 == g2
    assert get_operator(g1) is get_operator(g2)
    assert get_operator(g1) is not get_operator(g1.replace(center=g1.center + 0.25))
    assert get_operator(g1, backend="astra") is get_operator(g2, backend="astra")
    assert get_operator(g1, backend="astra") is not get_operator(g1, backend="matrix")


def test_operator_is_thread_safe():
    """Concurrent calls (TomoPy's thread pool) give the same results as serial ones."""
    from concurrent.futures import ThreadPoolExecutor

    for backend in BACKENDS:
        op = RayTransform(_geometry("parallel"), backend=backend)
        xs = [_rand((2, 24, 20), 20 + k) for k in range(6)]
        serial = [op(x) for x in xs]
        with ThreadPoolExecutor(3) as pool:
            parallel = list(pool.map(op, xs))
        for a, b in zip(serial, parallel):
            torch.testing.assert_close(a, b)


def test_on_the_fly_blocks_do_not_depend_on_threads_and_match_one_projector():
    """The astra backend splits the angles into a fixed number of blocks run on torch's
    threads: the same bits with 1 or 2 threads, the forward equal to one whole-scan ASTRA call."""
    import astra

    g = Geometry(np.linspace(0, np.pi, 37, endpoint=False), 40, 19.3, 36, 36)
    op = RayTransform(g, backend="astra")
    x = torch.rand(2, 36, 36, generator=torch.Generator().manual_seed(1))
    y = torch.rand(2, 37, 40, generator=torch.Generator().manual_seed(2))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = op(x), op.adjoint(y)
        torch.set_num_threads(2)
        two = op(x), op.adjoint(y)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(one[0], two[0]) and torch.equal(one[1], two[1])
    pid = astra.create_projector(g.projector, g.astra_proj_geom(), g.astra_vol_geom())
    try:
        sid, whole = astra.create_sino(x[0].numpy(), pid)
        bid, back = astra.create_backprojection(y[0].numpy(), pid)
        astra.data2d.delete([sid, bid])
    finally:
        astra.projector.delete(pid)
    np.testing.assert_array_equal(one[0][0].numpy(), whole)
    np.testing.assert_allclose(one[1][0].numpy(), back, rtol=1e-5, atol=1e-5 * np.abs(back).max())
