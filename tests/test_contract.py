"""The TomoPy caller contract, exercised through ``tomopy_dip.recon`` and direct calls.

``tomopy.recon`` calls ``f(tomo, center, recon, theta, **kw)`` with float32 sinogram-order data,
one centre per slice, a pre-filled ``recon`` to fill in place, float32 angles, and the extra
keywords ``num_gridx``, ``num_gridy`` and ``options``. The stand-in ``tomopy_dip.recon``
reproduces its layout, chunking and threads.
"""

from __future__ import annotations

import numpy as np
import pytest

import tomopy_dip
from conftest import TINY
from tomopy_dip.learning.phantoms import shepp_logan
from tomopy_dip.physics.measurement import simulate

N, NPROJ, NS = 24, 16, 4
CENTER = 12.0
KW = dict(TINY, num_iter=4, lr=1e-3)


@pytest.fixture(scope="module")
def data():
    """Four different slices (sinogram order, float32) and float32 angles as TomoPy passes them."""
    theta = np.linspace(0, np.pi, NPROJ, endpoint=False).astype(np.float32)
    base = shepp_logan(N)
    imgs = np.stack([np.roll(base, k, axis=1) * (1 + 0.1 * k) for k in range(NS)])
    sino = simulate(imgs, theta.astype(np.float64), noise=0.02)
    assert sino.shape == (NS, NPROJ, N) and sino.dtype == np.float32
    return theta, sino


@pytest.fixture(scope="module")
def reference(data):
    theta, sino = data
    res = tomopy_dip.reconstruct(sino, theta, CENTER, method="dip", **KW)
    assert res.images.shape == (NS, N, N)
    return res


def _close(a, b, tol=2e-3):
    # Slices fitted in different batch compositions round differently (grouped vs single
    # convolutions, ~1e-6), and Adam amplifies that in near-zero gradients: ~1e-4 after a few
    # iterations. A wrong slice, centre or seed differs by O(1).
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    err = np.abs(a - b).max() / max(np.abs(b).max(), 1e-12)
    assert err <= tol, err


# ----------------------------------------------------------------------------- shapes and in-place output
def test_recon_stand_in_shapes_and_values(data, reference):
    theta, sino = data
    proj = np.ascontiguousarray(sino.swapaxes(0, 1))  # projection order (nproj, nslices, ndet)
    out = tomopy_dip.recon(proj, theta, center=CENTER, algorithm=tomopy_dip.dip, **KW)
    assert out.shape == (NS, N, N) and out.dtype == np.float32
    _close(out, reference.images)
    out2 = tomopy_dip.recon(sino, theta, center=CENTER, sinogram_order=True, algorithm="dip", **KW)
    _close(out2, reference.images)


def test_direct_call_fills_recon_in_place(data, reference):
    theta, sino = data
    recon = np.full((NS, N, N), 1e-6, np.float32)
    ret = tomopy_dip.dip(sino, np.full(NS, CENTER, np.float32), recon, theta,
                         num_gridx=N, num_gridy=N, options={}, **KW)
    assert ret is None
    _close(recon, reference.images)


def test_accelerated_call_returns_the_filled_chunk(data, reference):
    """TomoPy's process path (``accelerated=True``) takes the worker's result back as the chunk."""
    theta, sino = data
    recon = np.full((NS, N, N), 1e-6, np.float32)
    ret = tomopy_dip.dip(sino, np.full(NS, CENTER, np.float32), recon, theta, num_gridx=N, num_gridy=N,
                         options={}, accelerated=True, **KW)
    assert ret is recon
    _close(recon, reference.images)
    with pytest.raises(TypeError, match="accelerated must be True or False"):
        tomopy_dip.dip(sino, CENTER, recon, theta, accelerated="yes", **KW)


def test_direct_call_into_a_view(data, reference):
    """TomoPy hands over views of its output array (chunks): write through the view."""
    theta, sino = data
    full = np.zeros((NS + 2, N, N), np.float32)
    view = full[1:3]
    tomopy_dip.dip(sino[1:3], np.full(2, CENTER, np.float32), view, theta, **KW)
    _close(full[1:3], reference.images[1:3])
    assert not full[0].any() and not full[3:].any()


def test_two_d_single_slice_call(data, reference):
    """nchunk=0: 2-D tomo (nproj, ndet), 2-D recon, scalar centre."""
    theta, sino = data
    recon = np.full((N, N), 1e-6, np.float32)
    tomopy_dip.dip(sino[2], np.float32(CENTER), recon, theta, num_gridx=N, num_gridy=N, **KW)
    _close(recon, reference.images[2])
    res = tomopy_dip.reconstruct(sino[2], theta, CENTER, method="dip", **KW)
    assert res.images.shape == (N, N)
    _close(res.images, reference.images[2])


def test_tomo_is_never_written(data):
    theta, sino = data
    tomo = sino.copy()
    tomo.setflags(write=False)  # TomoPy may pass a view of the caller's array
    recon = np.zeros((NS, N, N), np.float32)
    tomopy_dip.dip(tomo, np.full(NS, CENTER, np.float32), recon, theta, **KW)
    np.testing.assert_array_equal(tomo, sino)
    writable = sino.copy()
    tomopy_dip.tv_dip(writable, CENTER, np.zeros((NS, N, N), np.float32), theta,
                      **{**KW, "network_input": "fbp"})
    np.testing.assert_array_equal(writable, sino)
    proj = np.ascontiguousarray(sino.swapaxes(0, 1))
    before = proj.copy()
    tomopy_dip.recon(proj, theta, center=CENTER, algorithm=tomopy_dip.dip, **KW)
    np.testing.assert_array_equal(proj, before)


# ----------------------------------------------------------------------------- independence of the split
@pytest.mark.parametrize("ncore,nchunk", [(1, None), (2, None), (2, 1), (2, 0), (3, 3), (4, 2)])
def test_result_independent_of_ncore_and_nchunk(data, reference, ncore, nchunk):
    theta, sino = data
    out = tomopy_dip.recon(sino, theta, center=CENTER, sinogram_order=True, algorithm=tomopy_dip.dip,
                           ncore=ncore, nchunk=nchunk, **KW)
    _close(out, reference.images)


def test_identical_slices_give_identical_images(data):
    theta, sino = data
    tomo = np.stack([sino[0], sino[1], sino[0], sino[0]])
    out = tomopy_dip.recon(tomo, theta, center=CENTER, sinogram_order=True, algorithm=tomopy_dip.dip,
                           **KW)
    np.testing.assert_array_equal(out[2], out[0])
    np.testing.assert_array_equal(out[3], out[0])
    assert np.abs(out[1] - out[0]).max() > 1e-3 * np.abs(out[0]).max()
    one = tomopy_dip.recon(tomo, theta, center=CENTER, sinogram_order=True, algorithm=tomopy_dip.dip,
                           ncore=2, nchunk=1, **KW)
    np.testing.assert_array_equal(one, out)


@pytest.mark.parametrize("method", ["tv_dip", "aseqdip"])
def test_a_slice_result_is_bit_identical_whatever_the_grouping(data, method):
    """ncore, nchunk, batch_size and the other slices of the call never change a slice's image:
    30 iterations at lr 3e-3, long enough for Adam to amplify any rounding difference to
    percents (as grouped convolutions did)."""
    theta, sino = data
    kw = dict(TINY, num_iter=30, lr=3e-3, inner_steps=5) if method == "aseqdip" else dict(TINY, num_iter=30, lr=3e-3)
    alg = tomopy_dip.ALGORITHMS[method]
    ref = tomopy_dip.recon(sino, theta, center=CENTER, sinogram_order=True, algorithm=alg, ncore=1, nchunk=4, **kw)
    for grouping in (dict(ncore=1, nchunk=1), dict(ncore=3, nchunk=None), dict(ncore=2, nchunk=0),
                     dict(ncore=4, nchunk=3)):
        out = tomopy_dip.recon(sino, theta, center=CENTER, sinogram_order=True, algorithm=alg, **grouping, **kw)
        np.testing.assert_array_equal(out, ref, err_msg=str(grouping))
    for s in (1, 3):  # alone, and among other slices in another order
        alone = tomopy_dip.reconstruct(sino[s], theta, CENTER, method=method, **kw).images
        np.testing.assert_array_equal(alone, ref[s])
    with pytest.warns(FutureWarning, match="batch_size has no effect"):
        res = tomopy_dip.reconstruct(sino[::-1], theta, CENTER, method=method, batch_size=4, **kw)
    np.testing.assert_array_equal(res.images[::-1], ref)


def test_per_slice_centres(data):
    """A centre per slice; slices sharing a centre match their single-centre reconstruction."""
    theta, sino = data
    centers = np.array([CENTER, 12.5, CENTER, 12.5], np.float32)
    out = tomopy_dip.recon(sino, theta, center=centers, sinogram_order=True, algorithm=tomopy_dip.dip,
                           **KW)
    for s in range(NS):
        single = tomopy_dip.reconstruct(sino[s], theta, float(centers[s]), method="dip", **KW).images
        np.testing.assert_array_equal(out[s], single)


# ----------------------------------------------------------------------------- grid, options, select
def test_num_gridx_num_gridy_honoured(data):
    theta, sino = data
    out = tomopy_dip.recon(sino[:2], theta, center=CENTER, sinogram_order=True, algorithm="dip",
                           num_gridx=20, num_gridy=28, **KW)
    assert out.shape == (2, 20, 28)
    shapes = []
    recon = np.zeros((2, 20, 28), np.float32)
    tomopy_dip.dip(sino[:2], CENTER, recon, theta, callback=lambda d: shapes.append(d["image"].shape),
                   **KW)
    assert set(shapes) == {(20, 28)}
    _close(recon, out)
    res = tomopy_dip.reconstruct(sino[:1], theta, CENTER, method="dip", num_gridx=20, num_gridy=28, **KW)
    assert res.geometries[0].shape_image == (20, 28)


def test_tomopy_options_dict_is_honoured(data):
    theta, sino = data
    calls = []
    recon = np.zeros((2, N, N), np.float32)
    opts = {"num_iter": 3, "callback": lambda d: calls.append(d["iteration"]), **TINY}
    tomopy_dip.dip(sino[:2], CENTER, recon, theta, num_gridx=N, num_gridy=N, options=opts)
    assert sorted(calls) == [0, 0, 1, 1, 2, 2]
    # explicit keywords win over the options dict
    calls.clear()
    tomopy_dip.dip(sino[:1], CENTER, recon[:1], theta, num_iter=2, options=opts)
    assert calls == [0, 1]
    # the stand-in passes options through as TomoPy does
    calls.clear()
    tomopy_dip.recon(sino[:1], theta, center=CENTER, sinogram_order=True, algorithm="dip", options=opts)
    assert calls == [0, 1, 2]
    assert opts["num_iter"] == 3  # the shared dict is not modified


def test_select_min_loss_returns_the_best_callback_image(data):
    theta, sino = data
    seen = {}
    res = tomopy_dip.reconstruct(sino[:2], theta, CENTER, method="tv_dip", select="min_loss",
                                 callback=lambda d: seen.__setitem__((d["slice"], d["iteration"]), d), **KW)
    for s in range(2):
        k = int(res.iteration[s])
        assert k == int(np.argmin(res.history["loss"][:, s]))
        assert seen[(s, k)]["loss"] == pytest.approx(float(res.history["loss"][k, s]), rel=1e-6)
        _close(res.images[s], seen[(s, k)]["image"], 1e-6)


def test_select_last_returns_the_network_after_the_last_update(data):
    """select='last' after n steps = the image iteration n would have seen (same seed)."""
    theta, sino = data
    n = KW["num_iter"]
    last = tomopy_dip.reconstruct(sino[:2], theta, CENTER, method="dip", select="last", **KW)
    assert list(last.iteration) == [n, n]
    seen = {}
    tomopy_dip.reconstruct(sino[:2], theta, CENTER, method="dip", **{**KW, "num_iter": n + 1},
                           callback=lambda d: seen.__setitem__((d["slice"], d["iteration"]), d["image"]))
    for s in range(2):
        _close(last.images[s], seen[(s, n)], 1e-5)
    best = tomopy_dip.reconstruct(sino[:2], theta, CENTER, method="dip", select="min_loss", **KW)
    assert np.abs(best.images - last.images).max() > 0


def test_lr_warmup_scales_the_first_updates(data):
    """With ``lr_warmup=W`` iteration k steps with ``lr * (k + 1) / W``. Adam's first update
    moves every weight by about ``lr`` whatever the gradient, so the image changes about W
    times less over the first iteration; the run is otherwise the same."""
    theta, sino = data

    def first_change(**kw):
        seen = {}
        tomopy_dip.reconstruct(sino[:1], theta, CENTER, method="dip", **{**KW, "num_iter": 2}, **kw,
                               callback=lambda d: seen.__setitem__(d["iteration"], d["image"]))
        return seen, np.linalg.norm(seen[1] - seen[0])

    plain, d_plain = first_change()
    warm, d_warm = first_change(lr_warmup=10)
    _close(warm[0], plain[0], 1e-6)  # same network and input before any update
    assert 0.05 < d_warm / d_plain < 0.2, d_warm / d_plain
    _, d_one = first_change(lr_warmup=1)
    assert d_one == pytest.approx(d_plain, rel=1e-5)


@pytest.mark.parametrize("gate", [None, (0.97, 3)])
def test_select_average_is_the_weighted_running_mean_of_the_iterates(data, gate, monkeypatch):
    """select='average': avg = avg + w_j (x_k - avg), w_j = average_weight(j) for the j-th iterate
    taken, leaving out those whose data term exceeds gate[0] x its minimum over the previous
    gate[1] iterations; the callback's 'estimate' is that average, and with select='min_loss'
    it is the best image so far."""
    from tomopy_dip.fitting import selection

    if gate is not None:  # a strict gate, so that this short run leaves iterates out
        monkeypatch.setattr(selection, "AVERAGE_GATE", gate)
    factor, window = selection.AVERAGE_GATE
    theta, sino = data
    seen = {}
    n = 12
    res = tomopy_dip.reconstruct(sino[:2], theta, CENTER, method="dip", select="average",
                                 callback=lambda d: seen.__setitem__((d["slice"], d["iteration"]), d),
                                 **{**KW, "num_iter": n})
    left_out = 0
    for s in range(2):
        dat = res.history["data"][:, s]
        avg, j, last = None, 0, 0
        for k in range(n):
            if k > 0 and dat[k] > factor * dat[max(0, k - window):k].min():
                left_out += 1
                continue
            x = seen[(s, k)]["image"].astype(np.float64)
            avg = x if avg is None else avg + selection.average_weight(j) * (x - avg)
            j, last = j + 1, k
        assert res.iteration[s] == last
        _close(res.images[s], avg, 1e-5)
        _close(seen[(s, n - 1)]["estimate"], res.images[s], 1e-6)
        assert np.abs(res.images[s] - seen[(s, n - 1)]["image"]).max() > 0  # not the last iterate
    assert (left_out > 0) == (gate is not None)
    seen.clear()
    best = tomopy_dip.reconstruct(sino[:1], theta, CENTER, method="tv_dip", select="min_loss",
                                  callback=lambda d: seen.__setitem__(d["iteration"], d), **KW)
    k = int(best.iteration[0])
    _close(seen[KW["num_iter"] - 1]["estimate"], seen[k]["image"], 1e-6)


def test_average_weight_fades_a_short_runs_start_then_is_exponential():
    from tomopy_dip.fitting.selection import average_weight

    w = [average_weight(k) for k in range(1000)]
    assert w[0] == 1.0 and w[-1] == pytest.approx(0.01)
    # weight of iterate j in the average after 100 iterations is proportional to j + 1
    n = 100
    share = [w[j] * np.prod([1 - w[i] for i in range(j + 1, n)]) for j in range(n)]
    np.testing.assert_allclose(np.array(share) / share[-1], (np.arange(n) + 1) / n, rtol=1e-9)
    assert sum(share) == pytest.approx(1.0)


# ----------------------------------------------------------------------------- callback, units, history
def test_callback_payload(data):
    theta, sino = data
    got = []
    tomopy_dip.reconstruct(sino[:2], theta, CENTER, method="dip", callback=got.append, **KW)
    assert len(got) == 2 * KW["num_iter"]
    for d in got:
        assert set(d) >= {"slice", "iteration", "loss", "image", "estimate"}
        assert isinstance(d["slice"], int) and isinstance(d["iteration"], int)
        assert isinstance(d["loss"], float) and np.isfinite(d["loss"])
        assert isinstance(d["image"], np.ndarray) and d["image"].shape == (N, N)
    assert {d["slice"] for d in got} == {0, 1}
    every = []
    tomopy_dip.reconstruct(sino[:1], theta, CENTER, method="dip", callback=every.append,
                           callback_every=3, **{**KW, "num_iter": 7})
    assert [d["iteration"] for d in every] == [0, 3, 6]


def test_callback_slice_index_with_mixed_centres(data):
    """The callback's slice index is the slice's position in the volume, also when slices with
    different centres are regrouped into batches by geometry."""
    theta, sino = data
    centers = np.array([CENTER, 12.5, CENTER, 12.5])
    last = {}
    res = tomopy_dip.reconstruct(sino, theta, centers, method="dip", select="min_loss",
                                 callback=lambda d: last.__setitem__((d["slice"], d["iteration"]), d["image"]),
                                 **KW)
    assert {s for s, _ in last} == set(range(NS))
    for s in range(NS):
        _close(res.images[s], last[(s, int(res.iteration[s]))], 1e-6)


@pytest.fixture(scope="module")
def fixed_start(data, tmp_path_factory):
    """A checkpoint for the test geometry (one pretraining step): a network start that does not
    depend on the data. DIP seeds its random start from the slice's bytes, so data in other
    units start elsewhere; from a checkpoint with the FBP as input no random number is drawn."""
    theta, _ = data
    out = tmp_path_factory.mktemp("ckpt") / "fixed_start.safetensors"
    return tomopy_dip.pretrain(theta.astype(np.float64), N, center=CENTER, out=out, num_steps=1, batch_size=2,
                               val_size=2, channels=TINY["channels"], skip_channels=TINY["skip_channels"],
                               progress=False)


def _units_pair(sino, theta, method, start, **kw):
    """Fits of the data and of the data x 1000 from the same start, with their callback images."""
    imgs = {}

    def run(tag, factor):
        return tomopy_dip.reconstruct(
            sino[:2] * factor, theta, CENTER, method=method, checkpoint=str(start),
            callback=lambda d: imgs.setdefault((tag, d["slice"], d["iteration"]), d["image"]), **{**KW, **kw})

    return run("a", 1.0), run("b", 1000.0), imgs


def test_images_are_in_input_units(data, fixed_start):
    """Sinogram x 1000 -> images x 1000 (result and callback images)."""
    theta, sino = data
    a, b, imgs = _units_pair(sino, theta, "edip", fixed_start)
    np.testing.assert_allclose(b.scale, 1000 * a.scale, rtol=1e-5)
    # The same start for both: units are the only difference, so the images are x 1000 up to
    # float32 rounding (images at the internal unit scale would be x 1).
    _close(b.images, 1000 * a.images, 1e-4)
    for s in range(2):
        for k in range(KW["num_iter"]):
            _close(imgs[("b", s, k)], 1000 * imgs[("a", s, k)], 1e-4)


def test_images_scale_exactly_with_the_data_for_a_fixed_seed(data, fixed_start):
    """With the start fixed (through the public API: a checkpoint), units are the only
    difference: x 1000 exactly, also with a frozen encoder and select='last'."""
    theta, sino = data
    a, b, imgs = _units_pair(sino, theta, "edip_fe", fixed_start, select="last")
    _close(b.images, 1000 * a.images, 1e-4)
    for s in range(2):
        _close(imgs[("b", s, 2)], 1000 * imgs[("a", s, 2)], 1e-4)
    # and the images are in attenuation units, not at the internal unit scale: the data term of
    # the returned image is of the order of the data's own size
    from tomopy_dip import Geometry, get_operator
    import torch

    op = get_operator(Geometry(theta.astype(np.float64), N, CENTER))
    resid = np.abs(op(torch.from_numpy(a.images)).numpy() - sino[:2]).mean() / np.abs(sino[:2]).mean()
    assert resid < 1.5, resid


def test_history_shapes_and_terms(data):
    theta, sino = data
    res = tomopy_dip.reconstruct(sino[:3], theta, CENTER, method="tv_dip", tv_weight=1e-3,
                                 **{**KW, "num_iter": 5})
    assert set(res.history) == {"loss", "data", "tv", "ae", "seconds"}
    for v in res.history.values():
        assert v.shape == (5, 3) and np.all(np.isfinite(v))
    h = res.history
    np.testing.assert_allclose(h["loss"], h["data"] + 1e-3 * h["tv"], rtol=1e-5)
    assert np.all(h["tv"] > 0) and np.all(h["ae"] == 0)
    assert np.all(np.diff(h["seconds"], axis=0) >= 0)
    assert res.iteration.shape == (3,) and res.scale.shape == (3,) and np.all(res.scale > 0)
    assert not res.interrupted
    dip = tomopy_dip.reconstruct(sino[0], theta, CENTER, method="dip", **KW)
    assert dip.history["loss"].shape == (KW["num_iter"], 1)
    np.testing.assert_array_equal(dip.history["tv"], 0)
    np.testing.assert_allclose(dip.history["loss"], dip.history["data"])
    zero = tomopy_dip.reconstruct(sino[0], theta, CENTER, method="dip", **{**KW, "num_iter": 0})
    assert zero.images.shape == (N, N) and zero.history["loss"].shape == (0, 1)


def test_aseqdip_and_network_inputs_run(data):
    theta, sino = data
    res = tomopy_dip.reconstruct(sino[0], theta, CENTER, method="aseqdip", **{**KW, "num_iter": 4})
    assert np.all(res.history["ae"] > 0) and res.iteration[0] == 3  # select="average": through iterate 3
    for inp in ("fbp", "backprojection"):
        r = tomopy_dip.reconstruct(sino[0], theta, CENTER, method="dip", network_input=inp, **KW)
        assert np.all(np.isfinite(r.images))
    # fitting makes progress: the data term decreases over a few more iterations
    longer = tomopy_dip.reconstruct(sino[0], theta, CENTER, method="dip", network_input="fbp",
                                    **{**KW, "num_iter": 25, "lr": 1e-2})
    assert longer.history["data"][-5:].mean() < 0.5 * longer.history["data"][:2].mean()


# ----------------------------------------------------------------------------- Ctrl-C and output
def test_keyboard_interrupt_returns_best_so_far(data):
    theta, sino = data
    seen = {}

    def cb(d):
        seen[(d["slice"], d["iteration"])] = d["image"]
        if d["iteration"] == 2:
            raise KeyboardInterrupt

    res = tomopy_dip.reconstruct(sino[:1], theta, CENTER, method="dip", callback=cb,
                                 **{**KW, "num_iter": 1000})
    assert res.interrupted
    assert np.all(np.isfinite(res.images)) and np.abs(res.images).max() > 0
    k = int(res.iteration[0])
    assert 0 <= k <= 2
    _close(res.images[0], seen[(0, k)], 1e-6)
    assert max(it for _, it in seen) == 2


def test_keyboard_interrupt_history_covers_returned_iteration(data):
    """The returned iteration must be inside the returned history (history['loss'][iteration])."""
    theta, sino = data

    def cb(d):
        if d["iteration"] == 2:
            raise KeyboardInterrupt

    res = tomopy_dip.reconstruct(sino[:1], theta, CENTER, method="dip", callback=cb, select="min_loss",
                                 **{**KW, "num_iter": 1000})
    k = int(res.iteration[0])
    assert k < len(res.history["loss"]), (k, len(res.history["loss"]))
    assert res.history["loss"][k, 0] == np.nanmin(res.history["loss"][:, 0])


def test_keyboard_interrupt_through_the_tomopy_callable(data):
    theta, sino = data
    seen = {}

    def cb(d):
        seen[d["iteration"]] = (d["loss"], d["image"].copy())
        if d["iteration"] == 1:
            raise KeyboardInterrupt

    recon = np.zeros((1, N, N), np.float32)
    tomopy_dip.dip(sino[:1], CENTER, recon, theta, callback=cb, **{**KW, "num_iter": 1000})
    assert np.abs(recon).max() > 0 and np.all(np.isfinite(recon))
    # recon holds the iterate of least loss among those made before Ctrl-C (iterations 0 and 1)
    assert sorted(seen) == [0, 1]
    best = min(seen, key=lambda k: seen[k][0])
    _close(recon[0], seen[best][1], 1e-6)


def test_progress_false_prints_nothing(data, capfd):
    theta, sino = data
    tomopy_dip.reconstruct(sino[:1], theta, CENTER, method="dip", **KW)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    tomopy_dip.reconstruct(sino[:1], theta, CENTER, method="dip", **{**KW, "progress": True})
    out, err = capfd.readouterr()
    assert err != ""  # the progress bar goes to stderr (so the check above can fail)


def test_init_recon_and_default_grid(data):
    theta, sino = data
    init = np.full((2, N, N), 7.0, np.float32)
    out = tomopy_dip.recon(sino[:2], theta, center=CENTER, sinogram_order=True, algorithm="dip",
                           init_recon=init, **KW)
    assert out.shape == (2, N, N) and not np.any(out == 7.0)
    np.testing.assert_array_equal(init, 7.0)  # the caller's array is copied, not reused


def test_tv_kind_selects_the_total_variation(data):
    """The history's TV term is the isotropic or anisotropic TV of the iterate (unit scale, / N);
    both fits start from the same network and input, so see the same first iterate."""
    import torch

    from tomopy_dip.fitting.losses import total_variation

    theta, sino = data
    seen = {}
    for kind in ("anisotropic", "isotropic"):
        first = []
        res = tomopy_dip.reconstruct(sino[0], theta, CENTER, method="tv_dip", tv_kind=kind,
                                     callback=lambda info: first.append(info["image"]) if not first else None,
                                     **{**KW, "num_iter": 2})
        x = torch.from_numpy(np.asarray(first[0], np.float32).reshape(N, N) / res.scale[0])
        expected = float(total_variation(x, isotropic=kind == "isotropic")) / N
        assert res.history["tv"][0, 0] == pytest.approx(expected, rel=1e-4)
        seen[kind] = res.history["tv"][0, 0]
    assert seen["isotropic"] < seen["anisotropic"]  # sqrt(a^2 + b^2) <= |a| + |b|
    with pytest.raises(ValueError, match="tv_kind"):
        tomopy_dip.reconstruct(sino[0], theta, CENTER, method="tv_dip", tv_kind="iso", **KW)
