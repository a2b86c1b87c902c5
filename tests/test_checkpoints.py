"""Checkpoint files, the registry's download path (local HTTP server), automatic choice, CLI."""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import json
import socket
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import tomopy_dip
import tomopy_dip.learning.checkpoints as ck
import tomopy_dip.learning.checkpoints.registry as ck_registry
from tomopy_dip.cli.checkpoints import add_cli
from tomopy_dip.data import registry as registry
from tomopy_dip.physics.geometry import Geometry
from tomopy_dip.networks import UNet, UNetConfig
from tomopy_dip.data.registry import RegistryError, RemoteFile

TINY = dict(channels=(8, 8), skip_channels=(4, 4), norm_groups=4)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A checkpoint from the real pretraining code: parallel beam, 24 views, 24²."""
    out = tmp_path_factory.mktemp("ck") / "tiny.safetensors"
    tomopy_dip.pretrain(np.linspace(0, np.pi, 24, endpoint=False), 24, out=out, num_steps=2,
                        batch_size=2, val_size=2, progress=False, checkpoint_every=0, **TINY)
    return out


@pytest.fixture
def cache(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv(registry.CACHE_ENV, str(d))
    monkeypatch.delenv(registry.MIRROR_ENV, raising=False)
    return d


def _files(d: Path) -> list[str]:
    return sorted(p.name for p in d.rglob("*") if p.is_file()) if d.exists() else []


# ---------------------------------------------------------------------------- format
def test_round_trip_with_metadata(tiny, tmp_path):
    c = ck.load_checkpoint(tiny)
    assert c.config == UNetConfig(**TINY) and c.name is None and c.dims == 2
    meta = c.metadata
    for key in ("network", "geometry", "noise", "training", "version", "command", "serves"):
        assert key in meta
    assert meta["geometry"]["beam"] == "parallel" and meta["geometry"]["num_gridx"] == 24
    assert meta["training"]["steps"] == 2 and np.isfinite(meta["training"]["val_psnr"])
    assert meta["version"] == tomopy_dip.__version__
    # Save again through the public API and read back the same weights and metadata.
    out = ck.save_checkpoint(tmp_path / "copy.safetensors", c.state, c.config,
                             {k: meta[k] for k in ("geometry", "noise", "training", "command", "serves")})
    c2 = ck.load_checkpoint(out)
    assert c2.config == c.config and c2.metadata["training"] == meta["training"]
    for k, v in c.state.items():
        assert torch.equal(v, c2.state[k])
    net = UNet(c2.config)
    net.load_copy_state(c2.state)
    assert net(torch.zeros(1, 1, 24, 24)).shape == (1, 1, 24, 24)
    # Cached: the same object until the file changes.
    assert ck.load_checkpoint(out) is c2
    ck.save_checkpoint(out, {k: v + 1 for k, v in c.state.items()}, c.config, c.metadata)
    c3 = ck.load_checkpoint(out)
    assert c3 is not c2 and torch.equal(c3.state["outc.bias"], c.state["outc.bias"] + 1)
    assert not list(tmp_path.glob(".*tmp"))  # atomic write leaves no temporary file


def test_corrupt_truncated_and_tampered_files_are_refused(tiny, tmp_path):
    data = tiny.read_bytes()
    n = int.from_bytes(data[:8], "little")

    def write(name, content):
        p = tmp_path / name
        p.write_bytes(content)
        return p

    # Weights changed (header intact): caught by the weights' SHA-256 in the metadata.
    tampered = bytearray(data)
    tampered[8 + n + 100] ^= 0xFF
    with pytest.raises(ValueError, match="modified or damaged"):
        ck.load_checkpoint(write("tampered.safetensors", bytes(tampered)))
    for name, content, msg in [
        ("truncated.safetensors", data[: len(data) - 50], "corrupt or truncated"),
        ("cut_header.safetensors", data[: 8 + n // 2], "cut off"),
        ("empty.safetensors", b"", "truncated or empty"),
        ("garbage.safetensors", b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!" + b"\0" * 64, "not valid JSON"),
    ]:
        with pytest.raises(ValueError, match=msg):
            ck.load_checkpoint(write(name, content))
    # A pickle (torch.save) is never unpickled.
    p = tmp_path / "pickle.safetensors"
    torch.save({"weights": torch.zeros(3)}, p)
    with pytest.raises(ValueError, match="not a valid tomopy-dip checkpoint"):
        ck.load_checkpoint(p)
    # A safetensors file from elsewhere.
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="no 'tomopy_dip' metadata"):
        ck.load_checkpoint(tmp_path / "other.safetensors")
    # Metadata edited so that the network no longer fits the weights.
    c = ck.load_checkpoint(tiny)
    meta = dict(c.metadata, network={**c.metadata["network"], "channels": [8, 16]})
    save_file(dict(c.state), str(tmp_path / "misfit.safetensors"),
              metadata={"tomopy_dip": json.dumps(meta)})
    with pytest.raises(ValueError, match="do not fit"):
        ck.load_checkpoint(tmp_path / "misfit.safetensors")
    # An absurd network (a 36 TB one) is refused from the tensor shapes, before anything is built.
    huge = dict(c.metadata, network={**c.metadata["network"], "channels": [10**6] * len(c.config.channels)})
    save_file(dict(c.state), str(tmp_path / "huge.safetensors"), metadata={"tomopy_dip": json.dumps(huge)})
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ValueError, match="do not fit .* expected \\(1000000,"):
        ck.load_checkpoint(tmp_path / "huge.safetensors")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB: nothing big allocated
    # Required metadata missing; a newer format.
    for name, m, msg in [("nokeys", {k: v for k, v in c.metadata.items() if k != "geometry"}, "lacks geometry"),
                         ("newer", dict(c.metadata, format_version=99), "upgrade")]:
        save_file(dict(c.state), str(tmp_path / f"{name}.safetensors"), metadata={"tomopy_dip": json.dumps(m)})
        with pytest.raises(ValueError, match=msg):
            ck.load_checkpoint(tmp_path / f"{name}.safetensors")
    with pytest.raises(ValueError, match="neither a file nor a registered name"):
        ck.load_checkpoint(tmp_path / "missing.safetensors")
    with pytest.raises(TypeError):
        ck.load_checkpoint(42)


# ---------------------------------------------------------------------------- download path
class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):  # noqa: N802
        if self.path.startswith("/short/"):  # promises the whole file, sends half, hangs up
            body = (Path(self.directory) / self.path[len("/short/"):]).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture
def server(tmp_path, tiny):
    root = tmp_path / "www"
    root.mkdir()
    (root / "good.safetensors").write_bytes(tiny.read_bytes())
    (root / "cut.safetensors").write_bytes(tiny.read_bytes()[:1000])
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _entry(url, tiny, sha=None, name="t"):
    return RemoteFile(name, url, sha or registry.sha256(tiny), f"checkpoints/{name}.safetensors")


def test_download_good_file_is_verified_cached_and_reused(server, tiny, cache):
    entry = _entry(f"{server}/good.safetensors", tiny)
    path = registry.fetch(entry)
    assert path == cache / "checkpoints" / "t.safetensors" and path.read_bytes() == tiny.read_bytes()
    assert _files(cache) == ["t.safetensors"]
    # Reused from the cache: works with the server's address now wrong.
    assert registry.fetch(_entry("http://127.0.0.1:9/none", tiny)) == path
    assert ck.load_checkpoint(path).metadata["training"]["steps"] == 2


@pytest.mark.parametrize("case", ["bad_checksum", "truncated_file", "short_transfer", "server_down"])
def test_failed_downloads_raise_and_leave_nothing(server, tiny, cache, case):
    if case == "bad_checksum":
        entry = _entry(f"{server}/good.safetensors", tiny, sha="0" * 64)
    elif case == "truncated_file":
        entry = _entry(f"{server}/cut.safetensors", tiny)
    elif case == "short_transfer":
        entry = _entry(f"{server}/short/good.safetensors", tiny)
    else:
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        entry = _entry(f"http://127.0.0.1:{port}/good.safetensors", tiny)
    with pytest.raises(RegistryError) as err:
        registry.fetch(entry)
    msg = str(err.value)
    assert "t:" in msg
    assert ("verification" in msg) if case in ("bad_checksum", "truncated_file") else True
    if case == "server_down":
        assert registry.MIRROR_ENV in msg
    assert _files(cache) == []


def test_a_failed_download_touches_no_other_file_of_the_cache(server, tiny, cache):
    (cache / "checkpoints").mkdir(parents=True, exist_ok=True)
    notes = cache / "checkpoints" / "tmp_user_notes.txt"
    notes.write_text("mine")
    with pytest.raises(RegistryError):
        registry.fetch(_entry(f"{server}/short/good.safetensors", tiny))
    assert notes.read_text() == "mine" and _files(cache) == ["tmp_user_notes.txt"]


def test_two_processes_fetching_the_same_file_both_succeed(server, tiny, cache):
    import subprocess
    import sys

    code = ("import sys; from tomopy_dip.data.registry import RemoteFile, fetch; "
            "print(fetch(RemoteFile('t', sys.argv[1], sys.argv[2], 'checkpoints/t.safetensors')))")
    env = {**os.environ, "TOMOPY_DIP_CACHE": str(cache), "TOMOPY_DIP_MIRROR": "", "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", code, f"{server}/good.safetensors", registry.sha256(tiny)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    path = cache / "checkpoints" / "t.safetensors"
    assert all(o.strip().endswith(str(path)) for o, _ in outs)
    assert path.read_bytes() == tiny.read_bytes() and _files(cache) == ["t.safetensors"]


def test_mirror_directory_and_registered_names(tiny, cache, tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    (mirror / "checkpoints").mkdir(parents=True)
    (mirror / "checkpoints" / "t.safetensors").write_bytes(tiny.read_bytes())
    monkeypatch.setenv(registry.MIRROR_ENV, str(mirror))
    entry = ck.CheckpointEntry(_entry("http://127.0.0.1:9/unreachable", tiny),
                               ck.read_metadata(tiny)["geometry"], ck.read_metadata(tiny)["serves"],
                               ck.read_metadata(tiny)["network"])
    monkeypatch.setattr(ck_registry, "CHECKPOINTS", {"t": entry})
    assert ck.fetch_checkpoint("t") == mirror / "checkpoints" / "t.safetensors"
    c = ck.load_checkpoint("t")
    assert c.name == "t" and c.label == "t"
    assert _files(cache) == []  # used in place
    # A tampered mirror copy is refused by the registry's checksum.
    (mirror / "checkpoints" / "t.safetensors").write_bytes(tiny.read_bytes()[:-1] + b"x")
    with pytest.raises(RegistryError, match="SHA-256"):
        ck.load_checkpoint("t")
    with pytest.raises(ValueError, match="unknown checkpoint"):
        ck.fetch_checkpoint("nope")


def test_shipped_registry_entries_are_consistent():
    for name, e in ck.CHECKPOINTS.items():
        assert e.file.packaged and e.file.url.startswith("https://") and len(e.file.sha256) == 64
        assert e.beam in ("parallel", "fanflat") and e.serves["views"][0] <= e.serves["views"][1]
        shipped = Path(ck.__file__).parent / Path(e.file.packaged).name
        if shipped.is_file():  # the packaged copy is the registered file
            assert registry.sha256(shipped) == e.file.sha256
            assert ck.load_checkpoint(name).metadata["geometry"]["beam"] == e.beam


# ---------------------------------------------------------------------------- automatic choice
def _register(monkeypatch, tmp_path, specs):
    """Register fake entries (only their geometry summary matters for the choice)."""
    entries = {}
    for name, geom, views, serves in specs:
        summary = ck.geometry_summary(geom, views)
        remote = RemoteFile(name, "http://127.0.0.1:9/x", "0" * 64, f"{name}.safetensors")
        entries[name] = ck.CheckpointEntry(remote, summary, serves or ck.default_serves(summary),
                                           UNetConfig(**TINY).to_dict())
    monkeypatch.setattr(ck_registry, "CHECKPOINTS", entries)


def _fan(n, size, so=500.0, od=200.0, ndet=None, spacing=1.0):
    return Geometry(np.linspace(0, 2 * np.pi, n, endpoint=False), ndet or int(size * 1.5),
                    num_gridx=size, num_gridy=size, beam="fanflat", source_origin=so,
                    origin_detector=od, detector_spacing=spacing)


def _par(n, size, arc=np.pi):
    return Geometry(np.linspace(0, arc, n, endpoint=False), size)


def test_automatic_choice(monkeypatch, tmp_path):
    _register(monkeypatch, tmp_path, [
        ("par_multi", _par(720, 128), [20, 30, 45, 60, 90, 120, 180, 360, 720],
         {"views": [20, 720], "size": [128, 512]}),
        ("par_sparse", _par(10, 128), [10], {"views": [5, 15], "size": [64, 256]}),
        ("fan_htc", _fan(60, 256), [60], {"views": [40, 90], "size": [128, 512]}),
    ])
    assert ck.choose_checkpoint(_par(90, 256)) == ("par_multi", [])
    assert ck.choose_checkpoint(_par(8, 128))[0] == "par_sparse"
    assert ck.choose_checkpoint(_fan(60, 256)) == ("fan_htc", [])
    # The fan-beam match is judged relative to the image: half the grid, half the distances.
    assert ck.choose_checkpoint(_fan(60, 128, so=250.0, od=100.0, ndet=192)) == ("fan_htc", [])
    name, why = ck.choose_checkpoint(_fan(60, 256, so=300.0))
    assert name == "fan_htc" and any("source-origin" in w for w in why)
    name, why = ck.choose_checkpoint(_par(2000, 1024))
    assert name == "par_multi" and any("views" in w for w in why) and any("serves sizes" in w for w in why)
    name, why = ck.choose_checkpoint(_par(60, 128, arc=2 * np.pi))
    assert any("spans 360°" in w for w in why)
    # Without a declared range a checkpoint serves sizes and view counts close to its own.
    _register(monkeypatch, tmp_path, [("fan_htc", _fan(60, 256), [60], None)])
    assert ck.choose_checkpoint(_fan(60, 256)) == ("fan_htc", [])
    name, why = ck.choose_checkpoint(_fan(30, 128, so=250.0, od=100.0, ndet=192))
    assert any("30 views" in w for w in why) and any("sizes 170-384" in w for w in why)
    with pytest.raises(ValueError, match="no registered checkpoint serves parallel-beam"):
        ck.choose_checkpoint(_par(60, 128))


def test_resolve_warns_on_poor_match_and_checks_compatibility(tiny, monkeypatch, tmp_path):
    meta = ck.read_metadata(tiny)
    entry = ck.CheckpointEntry(RemoteFile("t", "http://127.0.0.1:9/x", registry.sha256(tiny), "t.safetensors"),
                               meta["geometry"], meta["serves"], meta["network"])
    monkeypatch.setattr(ck_registry, "CHECKPOINTS", {"t": entry})
    monkeypatch.setattr(ck_registry, "fetch_checkpoint", lambda name, progress=False: tiny)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ck.CheckpointMatchWarning)
        assert ck.resolve_checkpoint(None, _par(24, 24), "use").name == "t"  # good match: silent
    with pytest.warns(ck.CheckpointMatchWarning, match="'t'.*the data have 200 views"):
        ck.resolve_checkpoint(None, _par(200, 24), "use")
    with pytest.raises(ValueError, match="parallel-beam data but the data are fanflat-beam"):
        ck.resolve_checkpoint(tiny, _fan(24, 24, so=100.0, od=50.0), "use")
    c = ck.load_checkpoint(tiny)
    two = ck.Checkpoint(c.path, UNetConfig(**TINY, in_channels=2), c.state, c.metadata)
    with pytest.raises(ValueError, match="2 input channels"):
        ck.check_compatible(two, _par(24, 24))


# ---------------------------------------------------------------------------- command line
def test_command_line(tiny, monkeypatch, capsys):
    parser = argparse.ArgumentParser(prog="tomopy-dip")
    add_cli(parser.add_subparsers(dest="command"))
    meta = ck.read_metadata(tiny)
    entry = ck.CheckpointEntry(RemoteFile("t", "http://127.0.0.1:9/x", registry.sha256(tiny), "t.safetensors",
                                          size=tiny.stat().st_size, description="tiny test"),
                               meta["geometry"], meta["serves"], meta["network"], meta["training"])
    monkeypatch.setattr(ck_registry, "CHECKPOINTS", {"t": entry})
    monkeypatch.setattr(ck_registry, "fetch", lambda e, progress=False: tiny)

    def run(*argv):
        args = parser.parse_args(list(argv))
        assert args.func(args) == 0
        return capsys.readouterr().out

    out = run("checkpoints", "list")
    assert out.startswith("t: 2-D U-Net, parallel beam") and "tiny test" in out
    assert json.loads(run("checkpoints", "list", "--json"))[0]["name"] == "t"
    assert run("checkpoints", "fetch", "t", "--quiet").strip() == str(tiny)
    info = json.loads(run("checkpoints", "info", str(tiny)))
    assert info["training"]["steps"] == 2 and info["file_sha256"] == registry.sha256(tiny)
    assert "theta" not in info["arguments"] and info["parameters"] > 0
    assert "theta" in json.loads(run("checkpoints", "info", str(tiny), "--full"))["arguments"]
