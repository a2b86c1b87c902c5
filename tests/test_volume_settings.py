"""The settings' schema of reconstruct_file: one default per setting, every check before the file is read."""

from __future__ import annotations

import inspect

import pytest

from tomopy_dip.cli import build_parser
from tomopy_dip.volume import FILE_KEYWORDS, ScanPretrain, reconstruct_file
from tomopy_dip.volume.settings import parse_file_settings


def test_signature_defaults_are_the_schema_defaults():
    params = inspect.signature(reconstruct_file).parameters
    assert set(FILE_KEYWORDS) <= set(params)
    for name, kw in FILE_KEYWORDS.items():
        assert params[name].default == kw.default, name


def test_command_line_defaults_come_from_the_schema():
    args = build_parser().parse_args(["recon", "scan.h5", "-a", "tv_dip"])
    for name in ("center", "center_method", "downsample", "reader", "exchange_rank", "rows_per_task"):
        assert getattr(args, name) == FILE_KEYWORDS[name].default, name


@pytest.mark.parametrize("setting, value, error, words", [
    ("reader", "netcdf", ValueError, "reader must be one of"),
    ("resume", "yes", TypeError, "resume must be True or False"),
    ("scheduler", "local:0", ValueError, "positive number of workers"),
    ("scheduler", 3, TypeError, "scheduler must be"),
    ("center", float("nan"), ValueError, "center must be a finite number"),
    ("center_method", "phase", ValueError, "center_method must be 'vo' or 'entropy'"),
    ("rows_per_task", 0, ValueError, "rows_per_task must be an integer >= 1"),
    ("scan_pretrain", 0, ValueError, "scan_pretrain must be an integer >= 1"),
    ("report", "log", TypeError, "report must be callable"),
    ("proj", "every other", (TypeError, ValueError), "proj"),
])
def test_bad_settings_are_refused_before_the_file_is_read(tmp_path, setting, value, error, words):
    missing = tmp_path / "absent.h5"  # never opened: the settings are checked first
    with pytest.raises(error, match=words):
        reconstruct_file(missing, "tv_dip", out=tmp_path / "out", **{setting: value})
    assert not (tmp_path / "out").exists()


def test_parsed_settings_take_defaults_and_normalise_values():
    s = parse_file_settings({"proj": slice(0, 10, 2), "scan_pretrain": 8})
    assert s.proj == (0, 10, 2) and s.scan_pretrain == ScanPretrain(every=8)
    assert s.rows_per_task == FILE_KEYWORDS["rows_per_task"].default and s.center == "auto"
    with pytest.raises(TypeError, match="unexpected setting"):
        parse_file_settings({"rows": 3})
