"""Atomic file writes: a reader, or a run stopped half-way, sees the old file or the new one, never half of one.

The lowest floor of the package (it imports nothing of it): the training loop, the records, the export and the
distributed launcher all write through :func:`write_text_atomic`, and command lines check a target first with
:func:`check_writable`.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Optional, Union

PathLike = Union[str, "os.PathLike[str]"]


class WriteError(ValueError):
    """A file that cannot be written as asked; the message names the path, the fault and the fix."""


def write_text_atomic(path: PathLike, text: str, *, follow_symlinks: bool = True) -> Path:
    """Write ``text`` to ``path`` atomically: a reader (or a run stopped half-way) sees the old file or the new one.

    An existing target keeps its mode (a new one is 0o644); a read-only target is refused, not replaced. A symlink is
    followed (its target is rewritten, the link stays) or, with ``follow_symlinks=False``, refused.
    """
    path = Path(path)
    if path.is_symlink():
        if not follow_symlinks:
            raise WriteError(f"{path}: is a symlink; pass follow_symlinks=True to write to {os.path.realpath(path)}")
        path = Path(os.path.realpath(path))
    mode = 0o644
    if path.exists():
        if not path.is_file():
            raise WriteError(f"{path}: is not a file; choose a file path to write the record to")
        mode = stat.S_IMODE(path.stat().st_mode)
        if not mode & stat.S_IWUSR or not os.access(path, os.W_OK):
            raise WriteError(f"{path}: is read-only; make it writable (chmod u+w) or write elsewhere")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def check_writable(target: PathLike, *, folder_ok: bool = True) -> Optional[str]:
    """Why a record cannot be written at ``target`` (a file; or, if ``folder_ok``, a folder or a ``.json`` path), or
    ``None`` if it can.

    For command lines: checked before any work, so a long run does not end in an unwritable path."""
    path = Path(target)
    if path.is_dir():
        if not folder_ok:
            return f"{path} is a folder, not a file"
        return None if os.access(path, os.W_OK | os.X_OK) else f"{path} is a folder that cannot be written"
    if folder_ok and path.exists() and path.suffix != ".json":
        return f"{path} is a file, not a folder or a .json path"
    if path.exists() and (not os.access(path, os.W_OK) or not path.stat().st_mode & stat.S_IWUSR):
        return f"{path} is read-only"
    parent = next((p for p in [path.parent, *path.parent.parents] if p.exists()), Path("."))
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        return f"{parent} cannot be written (needed for {path})"
    return None
