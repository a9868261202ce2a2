"""classicnets.fileio: records are written whole or not at all."""
from __future__ import annotations

import stat

import pytest

from classicnets import fileio


def test_write_is_whole_readable_and_leaves_no_temporary(tmp_path):
    path = fileio.write_text_atomic(tmp_path / "sub" / "r.json", '{"a": 1}\n')
    assert path.read_text() == '{"a": 1}\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in path.parent.iterdir()) == ["r.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = fileio.write_text_atomic(tmp_path / "r.json", "old\n")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(fileio.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        fileio.write_text_atomic(path, "new\n")
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]
