"""Fashion-MNIST and MNIST as preloaded tensors.

``load_fashion_mnist()`` finds the four IDX ``.gz`` files, checks their checksums, decodes them and
returns a :class:`Dataset` of tensors ready to be sliced into batches (no ``DataLoader``, no per-sample
transform). By default the 28×28 images are padded to 32×32 (``pad=2``), as LeCun et al. (1998, §III.A)
padded MNIST for LeNet-5, so ``cn.fit(cn.lenet5(), cn.load_fashion_mnist())`` runs as written.

Where the files are looked for (:func:`search_dirs`): only in ``root`` (or ``root/fashion-mnist``) when it
is given; else only in ``$CLASSICNETS_DATA/fashion-mnist`` or ``$CLASSICNETS_DATA`` when that is set; else
in the user cache ``$XDG_CACHE_HOME/classicnets/fashion-mnist`` (``~/.cache/...``), then Debian's
``/usr/share/datasets/fashion-mnist`` (``apt-get install dataset-fashion-mnist``), and otherwise they are
downloaded into the user cache. A place you name must hold the data: when it does not, or holds 3 of the 4
files, or gunzipped ones, the error says what is missing; there is never a silent fall back to another copy.
An unreadable folder among the automatic places is skipped with a warning. The loader says which copy it
used (``progress=True``; also ``Dataset.source`` and ``meta["origin"]``). MNIST is found the same way.

Checksums: a file is accepted when the MD5 of the ``.gz`` is the published one (torchvision's table), or
when the SHA-256 of its decompressed content is the known one: re-packagers rewrite gzip headers
(Debian's strip-nondeterminism) which changes the ``.gz`` bytes but not a pixel. A download goes to a
``.part`` file renamed only once its checksum is right; ``.part`` files of a killed download are swept.
torchvision's reader and ``download_url`` are not used: they read and write uncompressed files in place,
while here the verified ``.gz`` bytes are decoded in memory (:func:`parse_idx`).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import socket
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import warnings
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO, Callable, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.datasets

PathLike = Union[str, "os.PathLike[str]"]
Size = Union[int, Sequence[int]]

ENV_VAR = "CLASSICNETS_DATA"
_CHUNK = 4096  # images converted / resized at a time
_DOWNLOAD_BLOCK = 1 << 16
_STALE_PART_S = 120  # a .part file untouched this long belongs to a download that was killed


class DataError(RuntimeError):
    """A data file is missing, corrupt or not what it claims to be."""


class DatasetNotFoundError(DataError):
    """The dataset files are not where they were looked for and could not be downloaded."""


@dataclass(frozen=True)
class FileSpec:
    """One IDX file and the checksums that identify it.

    ``md5`` is the MD5 of the ``.gz`` as published; ``sha256`` is the SHA-256
    of the decompressed IDX bytes, which survives re-compression. A file is
    accepted when either matches (whichever are known).
    """

    filename: str
    description: str
    md5: Optional[str] = None
    sha256: Optional[str] = None


@dataclass(frozen=True)
class DatasetInfo:
    """Where a dataset comes from and how to recognise its files."""

    name: str  # folder name, e.g. "fashion-mnist"
    title: str  # human name, e.g. "Fashion-MNIST"
    urls: tuple[str, ...]  # base URLs (mirrors), tried in order
    train_images: FileSpec
    train_labels: FileSpec
    test_images: FileSpec
    test_labels: FileSpec
    classes: tuple[str, ...]
    system_dirs: tuple[str, ...] = ()
    apt_package: Optional[str] = None

    @property
    def files(self) -> tuple[FileSpec, FileSpec, FileSpec, FileSpec]:
        return (self.train_images, self.train_labels, self.test_images, self.test_labels)


def _info(
    tv: type,
    name: str,
    title: str,
    classes: Sequence[str],
    sha256: Sequence[Optional[str]] = (None,) * 4,
    **extra: object,
) -> DatasetInfo:
    """A :class:`DatasetInfo` from torchvision's dataset class: its mirrors and the MD5s of its ``.gz`` files."""
    what = ("training images", "training labels", "test images", "test labels")
    files = [FileSpec(f, f"{title} {w}", md5, sha) for (f, md5), w, sha in zip(tv.resources, what, sha256)]
    return DatasetInfo(name, title, tuple(tv.mirrors), *files, classes=tuple(classes), **extra)  # type: ignore[arg-type]


FASHION_MNIST_CLASSES: tuple[str, ...] = tuple(torchvision.datasets.FashionMNIST.classes)
MNIST_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))
FASHION_MNIST = _info(
    torchvision.datasets.FashionMNIST,
    "fashion-mnist",
    "Fashion-MNIST",
    FASHION_MNIST_CLASSES,
    sha256=(
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",  # of the decompressed IDX files
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    ),
    system_dirs=("/usr/share/datasets/fashion-mnist",),
    apt_package="dataset-fashion-mnist",
)
MNIST = _info(torchvision.datasets.MNIST, "mnist", "MNIST", MNIST_CLASSES)


# --------------------------------------------------------------------------
# The dataset object
# --------------------------------------------------------------------------


@dataclass(repr=False)
class Dataset:
    """Train and test splits held as tensors.

    ``x_*`` are ``(N, 1, H, W)`` floating tensors, ``y_*`` are ``(N,)``
    ``int64`` class indices. ``mean``/``std`` are the pixel statistics (on the
    0..1 scale) that were subtracted and divided by, or ``None`` when the
    data was not normalised.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple[str, ...]
    source: Path
    mean: Optional[float] = None
    std: Optional[float] = None
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one image, ``(C, H, W)``."""
        return tuple(self.x_train.shape[1:])

    @property
    def device(self) -> torch.device:
        return self.x_train.device

    def __len__(self) -> int:
        return int(self.x_train.shape[0])

    def __repr__(self) -> str:
        norm = f"mean={self.mean:.4f}, std={self.std:.4f}" if self.mean is not None else "not normalised"
        return (
            f"Dataset({self.name!r}, train={tuple(self.x_train.shape)}, test={tuple(self.x_test.shape)}, "
            f"dtype={self.x_train.dtype}, device={self.device}, {norm}, source={str(self.source)!r})"
        )

    def subset(self, n_train: Optional[int] = None, n_test: Optional[int] = None, seed: int = 0) -> "Dataset":
        """A random subset (without replacement) for quick runs; ``None`` keeps a split whole.

        The same ``seed`` always picks the same examples; they keep their
        original order.
        """
        gen = torch.Generator().manual_seed(seed)
        tr = _choose(len(self.y_train), n_train, gen, "n_train")
        te = _choose(len(self.y_test), n_test, gen, "n_test")
        train = {
            k: v if tr is None else v[tr.to(v.device)]
            for k, v in (("x_train", self.x_train), ("y_train", self.y_train))
        }
        test = {
            k: v if te is None else v[te.to(v.device)] for k, v in (("x_test", self.x_test), ("y_test", self.y_test))
        }
        return replace(self, **train, **test, meta={**self.meta, "subset_seed": seed})

    def to(self, device: Union[str, torch.device]) -> "Dataset":
        """The same data on another device."""
        return replace(self, **{k: getattr(self, k).to(device) for k in ("x_train", "y_train", "x_test", "y_test")})

    def pixels(self, x: torch.Tensor) -> torch.Tensor:
        """Undo the normalisation: back to the 0..1 pixel scale (for plotting)."""
        if self.mean is None or self.std is None:
            return x
        return x * self.std + self.mean


def _choose(n: int, k: Optional[int], gen: torch.Generator, what: str) -> Optional[torch.Tensor]:
    """Sorted random indices of ``k`` out of ``n`` (None when k is None)."""
    if k is None:
        return None
    if not 0 <= k <= n:
        raise ValueError(f"{what}={k} is out of range: this split has {n} examples")
    return torch.randperm(n, generator=gen)[:k].sort().values


# --------------------------------------------------------------------------
# Finding the files
# --------------------------------------------------------------------------


def user_cache_dir(name: str = FASHION_MNIST.name) -> Path:
    """``$XDG_CACHE_HOME/classicnets/<name>`` (``~/.cache/...`` when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "classicnets" / name


def _places(info: DatasetInfo, root: Optional[PathLike]) -> tuple[str, list[Path], bool]:
    """Where to look: (what the reader named, candidate folders, whether the reader named them)."""
    if root is not None:
        root = Path(root).expanduser()
        return f"root={str(root)!r}", [root, root / info.name], True
    env = os.environ.get(ENV_VAR)
    if env is not None:
        if not env.strip():
            raise DataError(
                f"{ENV_VAR} is set but empty: set it to a folder holding the {info.title} files "
                f"(directly or in a '{info.name}/' subfolder), or unset it to use the user cache."
            )
        env_dir = Path(env).expanduser()
        return f"{ENV_VAR}={env!r}", [env_dir / info.name, env_dir], True
    return "the usual places", [user_cache_dir(info.name)] + [Path(d) for d in info.system_dirs], False


def search_dirs(info: DatasetInfo = FASHION_MNIST, root: Optional[PathLike] = None) -> list[Path]:
    """The folders searched for ``info``'s files, in order (see the module doc)."""
    return _places(info, root)[1]


def _listing(folder: Path, explicit: bool) -> Optional[set[str]]:
    """The names in ``folder``; ``None`` when it is missing, or unreadable (a warning, or an error
    for a folder the reader named)."""
    try:
        return set(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        if explicit:
            raise DataError(
                f"Cannot read {folder}: {exc.strerror or exc}. Make it readable, or name another folder."
            ) from None
        warnings.warn(f"skipping {folder}: cannot read it ({exc.strerror or exc}); trying the next place", stacklevel=4)
        return None


def _what_is_missing(info: DatasetInfo, folder: Path, names: set[str]) -> str:
    missing = [s.filename for s in info.files if s.filename not in names]
    gunzipped = [n[:-3] for n in missing if n[:-3] in names]
    text = f"{folder} holds {4 - len(missing)} of the 4 {info.title} files; missing: {', '.join(missing)}."
    if gunzipped:
        text += (
            f" Uncompressed files found: {', '.join(gunzipped)}; classicnets checks the published .gz files, "
            "so compress them back (gzip -n FILE keeps the content checksum) or put the .gz files there."
        )
    return text


def find_dataset_dir(info: DatasetInfo = FASHION_MNIST, root: Optional[PathLike] = None) -> Optional[Path]:
    """The folder holding all four files, or ``None`` when the automatic places lack them.

    A folder the reader named (``root``, ``CLASSICNETS_DATA``) that does not hold all four
    raises :class:`DatasetNotFoundError` saying what is missing."""
    named, folders, explicit = _places(info, root)
    for folder in folders:
        names = _listing(folder, explicit)
        if names is None:
            continue
        if all(s.filename in names for s in info.files):
            return folder
        if explicit and any(s.filename in names or s.filename[:-3] in names for s in info.files):
            raise DatasetNotFoundError(f"{named}: {_what_is_missing(info, folder, names)}")
        if names & {s.filename for s in info.files} and folder != user_cache_dir(info.name):
            warnings.warn(f"skipping {folder}: {_what_is_missing(info, folder, names)}", stacklevel=3)
    if explicit:
        where = " nor ".join(str(f) for f in folders)
        exists = [f for f in folders if f.is_dir()]
        state = "holds none of the files" if exists else "does not exist"
        raise DatasetNotFoundError(
            f"{named}: {where} {state}. Put the four {info.title} files "
            f"({', '.join(s.filename for s in info.files)}) there, or name the folder that holds them."
        )
    return None


def _sweep_parts(folder: Path) -> None:
    """Remove ``.part`` files that no download has touched for a while (left by a killed one)."""
    now = time.time()
    for part in folder.glob(".*.part"):
        try:
            if now - part.stat().st_mtime > _STALE_PART_S:
                part.unlink()
        except OSError:
            pass


# --------------------------------------------------------------------------
# Checking and decoding the files
# --------------------------------------------------------------------------


def _fix_hint(path: Path, info: Optional[DatasetInfo]) -> str:
    """What the user should do about a bad file at ``path``."""
    system = (
        info is not None
        and info.apt_package
        and any(Path(d).resolve() == path.resolve().parent for d in info.system_dirs)
    )
    if system:
        return f"Reinstall the package: sudo apt-get install --reinstall {info.apt_package}"
    return f"Delete {path} and load again to download a fresh copy (or replace it with a good copy)."


def _other_dataset(md5: str, sha: Optional[str], spec: FileSpec) -> Optional[str]:
    """Title of another known dataset whose file has these checksums (a common mix-up)."""
    for info in (FASHION_MNIST, MNIST):
        for other in info.files:
            if (
                other is not spec
                and other.filename == spec.filename
                and (md5 == other.md5 or (sha is not None and sha == other.sha256))
            ):
                return info.title
    return None


def check_bytes(packed: bytes, spec: FileSpec, where: str, info: Optional[DatasetInfo] = None, hint: str = "") -> bytes:
    """The decompressed content of ``packed`` (a ``.gz``) when it matches ``spec``; else
    :class:`DataError` naming ``where``, both checksums and what to do (``hint``)."""
    md5 = hashlib.md5(packed).hexdigest()
    try:
        raw: Optional[bytes] = gzip.decompress(packed)
    except (OSError, EOFError, zlib.error):
        raw = None
    sha = hashlib.sha256(raw).hexdigest() if raw is not None else None
    if raw is not None and ((spec.md5 and md5 == spec.md5) or (spec.sha256 and sha == spec.sha256)):
        return raw
    if raw is not None and spec.md5 is None and spec.sha256 is None:  # nothing to check against
        return raw
    if spec.md5 is None and spec.sha256 is None:
        raise DataError(f"{where} is not a readable gzip file. {hint}")
    expected = " or ".join(
        s
        for s in (spec.md5 and f"md5 {spec.md5} (of the .gz)", spec.sha256 and f"sha256 {spec.sha256} (of its content)")
        if s
    )
    got = f"md5 {md5}" + (f", sha256 {sha}" if sha else ", and it is not a readable gzip file")
    other = _other_dataset(md5, sha, spec)
    mixup = (
        f" This file is the {other} file of that name, not the {info.title if info else 'expected'} one:"
        f" keep each dataset in its own folder (e.g. .../{info.name if info else 'name'}/)."
        if other
        else ""
    )
    raise DataError(
        f"Checksum mismatch for {where} ({spec.description}): expected {expected}; got {got}. "
        f"The file is corrupt, incomplete or a different file.{mixup} {hint}"
    )


def verify_file(path: PathLike, spec: FileSpec, info: Optional[DatasetInfo] = None) -> bytes:
    """Check ``path`` against ``spec`` and return its decompressed bytes (see :func:`check_bytes`)."""
    path = Path(path)
    try:
        packed = path.read_bytes()
    except OSError as exc:
        raise DataError(f"Cannot read {path}: {exc.strerror or exc}. {_fix_hint(path, info)}") from exc
    return check_bytes(packed, spec, str(path), info, _fix_hint(path, info))


_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def parse_idx(raw: bytes, *, where: str = "<bytes>", ndim: Optional[int] = None) -> np.ndarray:
    """Decode the bytes of an (uncompressed) IDX file into a read-only numpy array.

    Checks the magic number (two zero bytes, a type code, the number of
    dimensions), that the sizes fit the data, and optionally ``ndim``.
    """
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(
            f"{where} is not an IDX file: bad magic number {raw[:4].hex() or '(empty)'} "
            "(expected 0000 followed by a type code and the number of dimensions). "
            "Delete it and load again, or replace it with the original file."
        )
    dims_n = raw[3]
    if ndim is not None and dims_n != ndim:
        kind = {1: "labels", 3: "images"}.get(ndim, f"{ndim}-d data")
        raise DataError(f"{where} holds {dims_n}-d data but {kind} ({ndim}-d) were expected: is it the right file?")
    header = 4 + 4 * dims_n
    if len(raw) < header:
        raise DataError(f"{where} is truncated: its IDX header is incomplete. Delete it and load again.")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=dims_n, offset=4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(
            f"{where} has {len(raw)} bytes but its header (shape {shape}, {dtype}) implies {expected}: "
            "the file is truncated or corrupt. Delete it and load again."
        )
    arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    arr.flags.writeable = False
    return arr


def read_idx(path: PathLike, spec: Optional[FileSpec] = None, info: Optional[DatasetInfo] = None) -> np.ndarray:
    """Read one ``.gz`` IDX file, checking it against ``spec`` when given.

    Decoded arrays are cached in-process (keyed on path, size and mtime), so
    loading twice in one notebook costs nothing.
    """
    p = Path(path).resolve()
    st = p.stat()
    return _read_cached(str(p), st.st_size, st.st_mtime_ns, spec or FileSpec(p.name, p.name), info)


@functools.lru_cache(maxsize=16)
def _read_cached(path: str, size: int, mtime_ns: int, spec: FileSpec, info: Optional[DatasetInfo]) -> np.ndarray:
    del size, mtime_ns  # part of the cache key only
    ndim = 3 if "images" in spec.filename else 1 if "labels" in spec.filename else None
    return parse_idx(verify_file(path, spec, info), where=path, ndim=ndim)


@functools.lru_cache(maxsize=8)
def _pixel_stats(images: "_ArrayKey") -> tuple[float, float]:
    """Mean and std of all pixels on the 0..1 scale (exact, via a histogram)."""
    counts = np.bincount(images.array.reshape(-1), minlength=256).astype(np.float64)
    levels = np.arange(256, dtype=np.float64) / 255.0
    n = counts.sum()
    mean = float((counts * levels).sum() / n)
    var = float((counts * (levels - mean) ** 2).sum() / n)
    return mean, var**0.5


@dataclass(frozen=True, eq=False)
class _ArrayKey:
    """Hashable by identity, so an lru_cache can key on a (cached) array."""

    array: np.ndarray

    def __hash__(self) -> int:
        return id(self.array)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _ArrayKey) and other.array is self.array


# --------------------------------------------------------------------------
# Downloading
# --------------------------------------------------------------------------


def _open_url(url: str, timeout: float = 30.0) -> BinaryIO:
    """Open ``url`` for reading (tests replace this to simulate a server)."""
    request = urllib.request.Request(url, headers={"User-Agent": "classicnets"})
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (http(s) URLs from the table above)


def can_download(info: DatasetInfo, timeout: float = 3.0) -> bool:
    """Does the first download server of ``info`` accept a connection within
    ``timeout`` seconds? (Lets a notebook skip a download quickly offline.)"""
    parts = urllib.parse.urlsplit(info.urls[0])
    port = parts.port or (443 if parts.scheme == "https" else 80)
    answered = threading.Event()

    def probe() -> None:  # in a thread: a name lookup can hang past any socket timeout
        try:
            socket.create_connection((parts.hostname, port), timeout=timeout).close()
            answered.set()
        except OSError:
            pass

    threading.Thread(target=probe, daemon=True).start()
    return answered.wait(timeout + 1)


def download_file(
    url: str, dest: PathLike, spec: FileSpec, *, info: Optional[DatasetInfo] = None, progress: bool = True
) -> Path:
    """Download ``url`` to ``dest`` atomically and check it against ``spec``.

    The bytes go to a temporary ``.part`` file in the destination folder which is
    renamed over ``dest`` only once its checksum is right: an interrupted or
    failed download leaves nothing behind, and errors name the URL, not the temporary file.
    """
    from tqdm.auto import tqdm

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, _open_url(url) as response:
            length = getattr(response, "headers", {}).get("Content-Length")
            total = int(length) if length and str(length).isdigit() else None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress, leave=False) as bar:
                while block := response.read(_DOWNLOAD_BLOCK):
                    out.write(block)
                    bar.update(len(block))
        check_bytes(tmp.read_bytes(), spec, f"the download of {url}", info, "Try again later, or another mirror.")
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a shared data cache is read by others
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


def _writable(folder: Path, info: DatasetInfo) -> None:
    """Refuse, with a message about the cache, to download into a folder that cannot be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise DatasetNotFoundError(
            f"{info.title} is not on this machine, and the user cache {folder} cannot be written "
            f"({exc.strerror or exc}), so it cannot be downloaded there. Set XDG_CACHE_HOME to a writable "
            f"folder, or put the four files in a folder and pass root=... (or set {ENV_VAR})."
        ) from None


def _download_all(info: DatasetInfo, folder: Path, progress: bool) -> Path:
    """Fill ``folder`` with whatever of ``info``'s files it lacks; errors name each URL tried."""
    _writable(folder, info)
    _sweep_parts(folder)
    for spec in info.files:
        if (folder / spec.filename).is_file():
            continue
        failures: list[str] = []
        for base in info.urls:
            url = base + spec.filename
            try:
                download_file(url, folder / spec.filename, spec, info=info, progress=progress)
                break
            except (OSError, DataError, ValueError) as exc:  # URLError/HTTPError are OSErrors
                failures.append(f"{url}: {exc}")
        else:
            raise _not_found(info, "; ".join(failures))
    return folder


def _not_found(info: DatasetInfo, reason: Optional[str]) -> DatasetNotFoundError:
    """The one message for 'the files are nowhere': every way to fix it."""
    ways = [f"install the Debian/Ubuntu package: sudo apt-get install {info.apt_package}"] if info.apt_package else []
    ways.append(
        f"set the {ENV_VAR} environment variable to a folder holding the four files "
        f"(directly or in a '{info.name}/' subfolder), or pass root=..."
    )
    ways.append(f"download the four files from {info.urls[0]} into {user_cache_dir(info.name)}")
    lines = [
        f"{info.title} was not found on this machine (looked in: "
        + ", ".join(str(d) for d in search_dirs(info))
        + ").",
        f"The download failed: {reason}." if reason else "Downloading is off (download=False).",
        f"Files needed: {', '.join(spec.filename for spec in info.files)}. To fix, do one of:",
    ]
    lines += [f"  {i}. {way}" for i, way in enumerate(ways, 1)]
    return DatasetNotFoundError("\n".join(lines))


def _origin(info: DatasetInfo, folder: Path, root: Optional[PathLike], downloaded: bool) -> str:
    if downloaded:
        return f"downloaded into the user cache {folder}"
    if root is not None:
        return f"root={folder}"
    if ENV_VAR in os.environ:
        return f"{ENV_VAR}: {folder}"
    if folder == user_cache_dir(info.name):
        return f"the user cache {folder}"
    return f"{folder} (the {info.apt_package} package)" if info.apt_package else str(folder)


# --------------------------------------------------------------------------
# Turning arrays into tensors
# --------------------------------------------------------------------------


def _as_size(resize: Optional[Size]) -> Optional[tuple[int, int]]:
    if resize is None:
        return None
    size = (resize, resize) if isinstance(resize, int) else tuple(resize)
    if len(size) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in size):
        raise ValueError(f"resize must be a positive int or (height, width), got {resize!r}")
    return size  # type: ignore[return-value]


def _check_memory(shape: Sequence[int], dtype: torch.dtype, device: torch.device) -> None:
    """Refuse early, with advice, when the tensors would not fit in RAM."""
    if device.type != "cpu":
        return
    need = int(np.prod(shape)) * torch.empty((), dtype=dtype).element_size()
    try:
        with open("/proc/meminfo") as fh:
            avail_kb = next(int(line.split()[1]) for line in fh if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        return
    if need > 0.8 * avail_kb * 1024:
        raise DataError(
            f"The images would need {need / 2**30:.1f} GiB ({tuple(shape)}, {dtype}) but only "
            f"{avail_kb / 2**20:.1f} GiB of memory is available. Load fewer images "
            "(n_train=..., n_test=...), a smaller resize, or dtype=torch.float16/bfloat16."
        )


@dataclass(frozen=True)
class _Shaping:
    """How raw uint8 images become the tensors of a :class:`Dataset`."""

    pad: int
    size: Optional[tuple[int, int]]
    mean: Optional[float]
    std: Optional[float]
    dtype: torch.dtype
    device: torch.device

    def images(self, images: np.ndarray, index: Optional[torch.Tensor]) -> torch.Tensor:
        """uint8 (N, H, W) -> float (N, 1, H', W'), chunk by chunk on the device: scale to 0..1,
        zero-pad (0 is the background), resize (bilinear, no antialias), standardise, cast."""
        if index is not None:
            images = images[index.numpy()]
        n, h, w = images.shape
        shape = (n, 1) + (self.size or (h + 2 * self.pad, w + 2 * self.pad))
        _check_memory(shape, self.dtype, self.device)
        out = torch.empty(shape, dtype=self.dtype, device=self.device)
        for start in range(0, n, _CHUNK):
            chunk = torch.from_numpy(np.array(images[start : start + _CHUNK]))  # a writable copy
            x = chunk.to(self.device).unsqueeze(1).to(torch.float32).div_(255.0)
            if self.pad:
                x = F.pad(x, (self.pad,) * 4)
            if self.size is not None and tuple(x.shape[-2:]) != self.size:
                x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False, antialias=False)
            if self.mean is not None and self.std is not None:
                x = x.sub_(self.mean).div_(self.std)
            out[start : start + x.shape[0]] = x.to(self.dtype)
        return out

    def labels(self, labels: np.ndarray, index: Optional[torch.Tensor]) -> torch.Tensor:
        y = torch.from_numpy(labels.astype(np.int64))
        return (y if index is None else y[index]).to(self.device)


# --------------------------------------------------------------------------
# Public loaders
# --------------------------------------------------------------------------


def _locate(info: DatasetInfo, root: Optional[PathLike], download: bool, progress: bool) -> tuple[Path, str]:
    """The folder holding the files (downloading them when allowed), and where it came from."""
    folder = find_dataset_dir(info, root)
    downloaded = folder is None
    if folder is None:
        if not download:
            raise _not_found(info, None)
        folder = _download_all(info, user_cache_dir(info.name), progress)
    origin = _origin(info, folder, root, downloaded)
    if progress:
        print(f"{info.title}: {origin}")
    return folder, origin


def _check_pair(images: np.ndarray, labels: np.ndarray, where: Path) -> None:
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{where} holds {images.shape[0]} images but its label file holds {labels.shape[0]} labels: "
            "the files do not belong together. Delete them and load again."
        )


def _tensors(
    info: DatasetInfo,
    folder: Path,
    shaping: _Shaping,
    normalize: bool,
    subsets: tuple[Optional[int], Optional[int]],
    seed: int,
) -> dict[str, object]:
    """Decode the four files and shape them: the Dataset's fields."""
    x_tr, y_tr, x_te, y_te = (read_idx(folder / spec.filename, spec, info) for spec in info.files)
    _check_pair(x_tr, y_tr, folder / info.train_images.filename)
    _check_pair(x_te, y_te, folder / info.test_images.filename)
    mean, std = _pixel_stats(_ArrayKey(x_tr)) if normalize else (None, None)
    shaping = replace(shaping, mean=mean, std=std)
    gen = torch.Generator().manual_seed(seed)
    i_tr, i_te = _choose(len(y_tr), subsets[0], gen, "n_train"), _choose(len(y_te), subsets[1], gen, "n_test")
    x = dict(x_train=shaping.images(x_tr, i_tr), x_test=shaping.images(x_te, i_te))
    return dict(x, y_train=shaping.labels(y_tr, i_tr), y_test=shaping.labels(y_te, i_te), mean=mean, std=std)


def _loader(global_name: str, summary: str) -> Callable[..., Dataset]:
    """The one implementation of both loaders; ``global_name`` names the dataset (looked up at call time)."""

    def load(
        root: Optional[PathLike] = None,
        *,
        download: bool = True,
        device: Union[str, torch.device, None] = None,
        dtype: torch.dtype = torch.float32,
        normalize: bool = True,
        resize: Optional[Size] = None,
        pad: Optional[int] = None,
        n_train: Optional[int] = None,
        n_test: Optional[int] = None,
        seed: int = 0,
        progress: bool = True,
    ) -> Dataset:
        info: DatasetInfo = getattr(sys.modules[__name__], global_name)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating type such as torch.float32, got {dtype}")
        size = _as_size(resize)
        if pad is None:
            pad = 2 if size is None else 0  # LeNet-5's 32×32; a resize starts from the 28×28 image
        if not isinstance(pad, int) or isinstance(pad, bool) or pad < 0:
            raise ValueError(f"pad must be a whole number ≥ 0, got {pad!r}: use pad=2 (32×32) or pad=0 (28×28)")
        folder, origin = _locate(info, root, download, progress)
        shaping = _Shaping(pad, size, None, None, dtype, torch.device("cpu" if device is None else device))
        tensors = _tensors(info, folder, shaping, normalize, (n_train, n_test), seed)
        subset = seed if n_train is not None or n_test is not None else None
        meta = {"pad": pad, "resize": size, "subset_seed": subset, "origin": origin}
        return Dataset(name=info.name, classes=info.classes, source=folder, meta=meta, **tensors)

    load.__name__ = load.__qualname__ = f"load_{global_name.lower()}"
    load.__doc__ = summary + _LOAD_DOC
    return load


_LOAD_DOC = """

    Parameters
    ----------
    root: the folder holding the four ``.gz`` files (or a ``fashion-mnist``/``mnist`` subfolder);
        only there. Without it, see the module doc for where the files are looked for.
    download: download into the user cache when the files are nowhere to be found.
    device: where the tensors live (default CPU); conversion happens there, chunk by chunk.
    dtype: floating dtype of the images (labels are always ``int64``).
    normalize: standardise with the training set's pixel mean and std (``Dataset.mean``/``std``);
        otherwise pixels stay on the 0..1 scale.
    resize: ``int`` or ``(height, width)``: resize once at load (bilinear, no antialias), e.g. ``224``
        for AlexNet, after ``pad``.
    pad: zero-pad each side, before normalising, so the padding is background. By default 2 without
        ``resize`` (LeNet-5's 32×32 input, as the 1998 paper padded MNIST) and 0 with it (the 28×28 image
        is resized); ``pad=0`` keeps 28×28.
    n_train, n_test: keep a seeded random subset of each split, chosen before padding and resizing
        (cheap even with ``resize=224``); ``None`` keeps everything. ``seed`` seeds the choice.
    progress: say which copy was loaded, and show a progress bar while downloading.
    """

load_fashion_mnist = _loader(
    "FASHION_MNIST",
    "Fashion-MNIST (60,000 train / 10,000 test 28x28 images of 10 kinds of clothing) as a preloaded "
    ":class:`Dataset`, padded to 32x32 by default.",
)
load_mnist = _loader(
    "MNIST",
    "MNIST (60,000 train / 10,000 test 28x28 handwritten digits) as a preloaded :class:`Dataset`, padded "
    "to 32x32 by default. No distribution packages MNIST, so unless the files are in ``root``, "
    f"``${ENV_VAR}`` or the user cache they are downloaded.",
)
