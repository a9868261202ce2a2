"""The atomic writer every file the package writes goes through, and the writability check before long runs."""

import stat

import pytest

from classicnets import atomic
from classicnets.atomic import WriteError


def test_write_is_whole_readable_and_leaves_no_temporary(tmp_path):
    path = atomic.write_text_atomic(tmp_path / "sub" / "r.json", '{"a": 1}\n')
    assert path.read_text() == '{"a": 1}\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in path.parent.iterdir()) == ["r.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = atomic.write_text_atomic(tmp_path / "r.json", "old\n")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic.write_text_atomic(path, "new\n")
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_a_rewrite_keeps_the_targets_mode(tmp_path):
    path = tmp_path / "r.json"
    path.write_text("old\n")
    path.chmod(0o600)
    atomic.write_text_atomic(path, "new\n")
    assert path.read_text() == "new\n" and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_read_only_target_is_refused(tmp_path):
    path = tmp_path / "r.json"
    path.write_text("kept\n")
    path.chmod(0o444)
    with pytest.raises(WriteError, match="read-only"):
        atomic.write_text_atomic(path, "new\n")
    assert path.read_text() == "kept\n"
    assert "read-only" in atomic.check_writable(path)


def test_a_symlink_is_followed_or_refused_deliberately(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("old\n")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    with pytest.raises(WriteError, match="symlink"):
        atomic.write_text_atomic(link, "new\n", follow_symlinks=False)
    assert real.read_text() == "old\n"
    assert atomic.write_text_atomic(link, "new\n") == real  # the link's target is rewritten, the link stays
    assert link.is_symlink() and real.read_text() == "new\n"


def test_check_writable(tmp_path):
    assert atomic.check_writable(tmp_path / "new" / "r.json") is None
    assert atomic.check_writable(tmp_path) is None
    assert "is a folder, not a file" in atomic.check_writable(tmp_path, folder_ok=False)
    (tmp_path / "file").write_text("")
    assert "cannot be written" in atomic.check_writable(tmp_path / "file" / "r.json")
    assert "not a folder or a .json path" in atomic.check_writable(tmp_path / "file")
    assert atomic.check_writable(tmp_path / "file", folder_ok=False) is None
