"""Fashion-MNIST and MNIST as preloaded tensors.

``load_fashion_mnist()`` finds the four IDX ``.gz`` files, checks their
checksums, decodes them with numpy and returns a :class:`Dataset` whose
tensors are ready to be sliced into batches: no ``DataLoader`` and no
per-sample Python transform during training.

Where the files are looked for, first match wins (a folder matches when it
holds all four files):

1. the ``root`` argument (the folder itself, then ``root/fashion-mnist``);
2. the folder named by the ``CLASSICNETS_DATA`` environment variable
   (``$CLASSICNETS_DATA/fashion-mnist``, then the folder itself);
3. the user cache, ``$XDG_CACHE_HOME/classicnets/fashion-mnist``
   (``~/.cache/classicnets/fashion-mnist`` by default);
4. Debian's ``/usr/share/datasets/fashion-mnist`` (``apt-get install
   dataset-fashion-mnist``);
5. otherwise the files are downloaded into the user cache (``download=True``).

MNIST is searched the same way (with ``mnist`` for ``fashion-mnist``), except
that no distribution packages it, so it is downloaded when not found.

Checksums: each file is accepted when the MD5 of the ``.gz`` is the one
published upstream, or when the SHA-256 of its decompressed content is the
known one. The second check matters because re-packagers rewrite gzip headers
(Debian's strip-nondeterminism drops the file name and time stamp) which
changes the ``.gz`` bytes but not a single pixel.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import os
import socket
import tempfile
import threading
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "DataError",
    "DatasetNotFoundError",
    "Dataset",
    "DatasetInfo",
    "FileSpec",
    "FASHION_MNIST",
    "MNIST",
    "FASHION_MNIST_CLASSES",
    "MNIST_CLASSES",
    "load_fashion_mnist",
    "load_mnist",
    "read_idx",
    "parse_idx",
    "verify_file",
    "find_dataset_dir",
    "search_dirs",
    "user_cache_dir",
    "download_file",
]

PathLike = Union[str, "os.PathLike[str]"]
Size = Union[int, Sequence[int]]

ENV_VAR = "CLASSICNETS_DATA"
_CHUNK = 4096  # images converted / resized at a time
_DOWNLOAD_BLOCK = 1 << 16


class DataError(RuntimeError):
    """A data file is missing, corrupt or not what it claims to be."""


class DatasetNotFoundError(DataError):
    """The dataset files are nowhere on this machine and could not be downloaded."""


# --------------------------------------------------------------------------
# What each dataset is made of
# --------------------------------------------------------------------------


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


FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
MNIST_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))

FASHION_MNIST = DatasetInfo(
    name="fashion-mnist",
    title="Fashion-MNIST",
    urls=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    train_images=FileSpec(
        "train-images-idx3-ubyte.gz",
        "Fashion-MNIST training images",
        md5="8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        sha256="c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    ),
    train_labels=FileSpec(
        "train-labels-idx1-ubyte.gz",
        "Fashion-MNIST training labels",
        md5="25c81989df183df01b3e8a0aad5dffbe",
        sha256="bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    ),
    test_images=FileSpec(
        "t10k-images-idx3-ubyte.gz",
        "Fashion-MNIST test images",
        md5="bbce3c32c4b8f3bbb9fb3e0fd1bb7d8e",
        sha256="5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    ),
    test_labels=FileSpec(
        "t10k-labels-idx1-ubyte.gz",
        "Fashion-MNIST test labels",
        md5="bb300cfdad3c16e7a12a480ee83cd310",
        sha256="0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    ),
    classes=FASHION_MNIST_CLASSES,
    system_dirs=("/usr/share/datasets/fashion-mnist",),
    apt_package="dataset-fashion-mnist",
)

MNIST = DatasetInfo(
    name="mnist",
    title="MNIST",
    urls=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    # MD5s of the published .gz files, as listed by torchvision.datasets.MNIST
    train_images=FileSpec(
        "train-images-idx3-ubyte.gz", "MNIST training images", md5="f68b3c2dcbeaaa9fbdd348bbdeb94873"
    ),
    train_labels=FileSpec(
        "train-labels-idx1-ubyte.gz", "MNIST training labels", md5="d53e105ee54ea40749a09fcbcd1e9432"
    ),
    test_images=FileSpec(
        "t10k-images-idx3-ubyte.gz", "MNIST test images", md5="9fb629c4189551a2d022fa330f9573f3"
    ),
    test_labels=FileSpec(
        "t10k-labels-idx1-ubyte.gz", "MNIST test labels", md5="ec29112dd5afa0611ce80d1b7f02629c"
    ),
    classes=MNIST_CLASSES,
)

_KNOWN = (FASHION_MNIST, MNIST)


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
    meta: dict[str, Any] = field(default_factory=dict)

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
        return replace(
            self,
            x_train=self.x_train if tr is None else self.x_train[tr.to(self.device)],
            y_train=self.y_train if tr is None else self.y_train[tr.to(self.device)],
            x_test=self.x_test if te is None else self.x_test[te.to(self.x_test.device)],
            y_test=self.y_test if te is None else self.y_test[te.to(self.x_test.device)],
            meta={**self.meta, "subset_seed": seed},
        )

    def to(self, device: Union[str, torch.device]) -> "Dataset":
        """The same data on another device."""
        return replace(
            self,
            x_train=self.x_train.to(device),
            y_train=self.y_train.to(device),
            x_test=self.x_test.to(device),
            y_test=self.y_test.to(device),
        )

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


def search_dirs(info: DatasetInfo = FASHION_MNIST, root: Optional[PathLike] = None) -> list[Path]:
    """The folders searched for ``info``'s files, in order (see the module doc)."""
    dirs: list[Path] = []
    if root is not None:
        root = Path(root).expanduser()
        dirs += [root, root / info.name]
    env = os.environ.get(ENV_VAR)
    if env:
        env_dir = Path(env).expanduser()
        dirs += [env_dir / info.name, env_dir]
    dirs.append(user_cache_dir(info.name))
    dirs += [Path(d) for d in info.system_dirs]
    return dirs


def find_dataset_dir(info: DatasetInfo = FASHION_MNIST, root: Optional[PathLike] = None) -> Optional[Path]:
    """The first search folder that holds all four files, or ``None``."""
    for folder in search_dirs(info, root):
        if all((folder / spec.filename).is_file() for spec in info.files):
            return folder
    return None


# --------------------------------------------------------------------------
# Checking and decoding the files
# --------------------------------------------------------------------------


def _fix_hint(path: Path, info: Optional[DatasetInfo]) -> str:
    """What the user should do about a bad file at ``path``."""
    if info is not None and info.apt_package and any(Path(d).resolve() == path.resolve().parent for d in info.system_dirs):
        return f"Reinstall the package: sudo apt-get install --reinstall {info.apt_package}"
    return f"Delete {path} and load again to download a fresh copy (or replace it with a good copy)."


def _other_dataset(md5: str, sha: Optional[str], spec: FileSpec) -> Optional[str]:
    """Title of another known dataset whose file has these checksums (a common mix-up)."""
    for info in _KNOWN:
        for other in info.files:
            if other is spec or other.filename != spec.filename:
                continue
            if md5 == other.md5 or (sha is not None and sha == other.sha256):
                return info.title
    return None


def verify_file(path: PathLike, spec: FileSpec, info: Optional[DatasetInfo] = None) -> bytes:
    """Check ``path`` against ``spec`` and return its decompressed bytes.

    Raises :class:`DataError` naming the file, the expected and actual
    checksums, and what to do.
    """
    path = Path(path)
    try:
        packed = path.read_bytes()
    except OSError as exc:
        raise DataError(f"Cannot read {path}: {exc}") from exc
    md5 = hashlib.md5(packed).hexdigest()
    try:
        raw: Optional[bytes] = gzip.decompress(packed)
    except (OSError, EOFError, zlib.error):
        raw = None
    if spec.md5 is not None and md5 == spec.md5 and raw is not None:
        return raw
    sha = hashlib.sha256(raw).hexdigest() if raw is not None else None
    if spec.sha256 is not None and sha == spec.sha256:
        return raw  # type: ignore[return-value]
    if spec.md5 is None and spec.sha256 is None:  # nothing to check against
        if raw is None:
            raise DataError(f"{path} is not a readable gzip file. {_fix_hint(path, info)}")
        return raw

    expected = " or ".join(
        s for s in (spec.md5 and f"md5 {spec.md5} (of the .gz)", spec.sha256 and f"sha256 {spec.sha256} (of its content)") if s
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
        f"Checksum mismatch for {path} ({spec.description}): expected {expected}; got {got}. "
        f"The file is corrupt, incomplete or a different file.{mixup} {_fix_hint(path, info)}"
    )


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
    return _read_cached(str(p), st.st_size, st.st_mtime_ns, spec, info)


@functools.lru_cache(maxsize=16)
def _read_cached(
    path: str, size: int, mtime_ns: int, spec: Optional[FileSpec], info: Optional[DatasetInfo]
) -> np.ndarray:
    del size, mtime_ns  # part of the cache key only
    if spec is not None:
        raw = verify_file(path, spec, info)
    else:
        try:
            raw = gzip.decompress(Path(path).read_bytes())
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{path} is not a readable gzip file ({exc}). Delete it and load again.") from exc
    ndim = None if spec is None else (3 if "images" in spec.filename else 1)
    return parse_idx(raw, where=path, ndim=ndim)


@functools.lru_cache(maxsize=8)
def _pixel_stats(images: "_ArrayKey") -> tuple[float, float]:
    """Mean and std of all pixels on the 0..1 scale (exact, via a histogram)."""
    counts = np.bincount(images.array.reshape(-1), minlength=256).astype(np.float64)
    levels = np.arange(256, dtype=np.float64) / 255.0
    n = counts.sum()
    mean = float((counts * levels).sum() / n)
    var = float((counts * (levels - mean) ** 2).sum() / n)
    return mean, var**0.5


class _ArrayKey:
    """Hashable by identity, so an lru_cache can key on a (cached) array."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

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


def can_download(info: "DatasetInfo", timeout: float = 3.0) -> bool:
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

    The bytes go to a temporary file in the destination folder which is
    renamed over ``dest`` only once its checksum is right: an interrupted or
    failed download leaves nothing behind.
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
                while True:
                    block = response.read(_DOWNLOAD_BLOCK)
                    if not block:
                        break
                    out.write(block)
                    bar.update(len(block))
        verify_file(tmp, spec, info)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a shared data cache is read by others
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


def _download_all(info: DatasetInfo, folder: Path, progress: bool, root: Optional[PathLike] = None) -> Path:
    """Fill ``folder`` with whatever of ``info``'s files it lacks; errors name each URL tried."""
    for spec in info.files:
        dest = folder / spec.filename
        if dest.is_file():
            continue
        failures: list[str] = []
        for base in info.urls:
            url = base + spec.filename
            try:
                download_file(url, dest, spec, info=info, progress=progress)
                break
            except (OSError, DataError, ValueError) as exc:  # URLError/HTTPError are OSErrors
                failures.append(f"{url}: {exc}")
        else:
            raise _not_found(info, "; ".join(failures), root)
    return folder


def _not_found(info: DatasetInfo, reason: Optional[str], root: Optional[PathLike] = None) -> DatasetNotFoundError:
    """The one message for 'the files are nowhere': every way to fix it."""
    cache = user_cache_dir(info.name)
    files = ", ".join(spec.filename for spec in info.files)
    ways = []
    if info.apt_package:
        ways.append(f"install the Debian/Ubuntu package: sudo apt-get install {info.apt_package}")
    ways.append(
        f"set the {ENV_VAR} environment variable to a folder holding the four files "
        f"(directly or in a '{info.name}/' subfolder), or pass root=..."
    )
    ways.append(f"download the four files from {info.urls[0]} into {cache}")
    lines = [f"{info.title} was not found on this machine (looked in: "
             + ", ".join(str(d) for d in search_dirs(info, root)) + ")."]
    lines.append(f"The download failed: {reason}." if reason else "Downloading is off (download=False).")
    lines.append(f"Files needed: {files}. To fix, do one of:")
    lines += [f"  {i}. {way}" for i, way in enumerate(ways, 1)]
    return DatasetNotFoundError("\n".join(lines))


# --------------------------------------------------------------------------
# Turning arrays into tensors
# --------------------------------------------------------------------------


def _as_size(resize: Optional[Size]) -> Optional[tuple[int, int]]:
    if resize is None:
        return None
    if isinstance(resize, int):
        size = (resize, resize)
    else:
        size = tuple(int(s) for s in resize)  # type: ignore[assignment]
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"resize must be a positive int or (height, width), got {resize!r}")
    return size  # type: ignore[return-value]


def _output_shape(images: np.ndarray, pad: int, size: Optional[tuple[int, int]]) -> tuple[int, int, int, int]:
    n, h, w = images.shape
    h, w = h + 2 * pad, w + 2 * pad
    if size is not None:
        h, w = size
    return (n, 1, h, w)


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


def _images_to_tensor(
    images: np.ndarray,
    *,
    index: Optional[torch.Tensor],
    pad: int,
    size: Optional[tuple[int, int]],
    mean: Optional[float],
    std: Optional[float],
    dtype: torch.dtype,
    device: torch.device,
) -> torch.Tensor:
    """uint8 (N, H, W) -> float (N, 1, H', W'), chunk by chunk on ``device``.

    Per chunk: scale to 0..1, zero-pad (0 is the background), resize
    (bilinear, no antialias), standardise, cast.
    """
    if index is not None:
        images = images[index.numpy()]
    shape = _output_shape(images, pad, size)
    _check_memory(shape, dtype, device)
    out = torch.empty(shape, dtype=dtype, device=device)
    for start in range(0, shape[0], _CHUNK):
        chunk = torch.from_numpy(np.array(images[start : start + _CHUNK]))  # a writable copy
        x = chunk.to(device).unsqueeze(1).to(torch.float32).div_(255.0)
        if pad:
            x = F.pad(x, (pad, pad, pad, pad))
        if size is not None and tuple(x.shape[-2:]) != size:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=False)
        if mean is not None and std is not None:
            x = x.sub_(mean).div_(std)
        out[start : start + x.shape[0]] = x.to(dtype)
    return out


def _labels_to_tensor(labels: np.ndarray, index: Optional[torch.Tensor], device: torch.device) -> torch.Tensor:
    y = torch.from_numpy(labels.astype(np.int64))
    if index is not None:
        y = y[index]
    return y.to(device)


# --------------------------------------------------------------------------
# Public loaders
# --------------------------------------------------------------------------


def _load(
    info: DatasetInfo,
    root: Optional[PathLike],
    *,
    download: bool,
    device: Union[str, torch.device, None],
    dtype: torch.dtype,
    normalize: bool,
    resize: Optional[Size],
    pad: int,
    n_train: Optional[int],
    n_test: Optional[int],
    seed: int,
    progress: bool,
) -> Dataset:
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating type such as torch.float32, got {dtype}")
    if pad < 0:
        raise ValueError(f"pad must be >= 0, got {pad}")
    size = _as_size(resize)
    dev = torch.device(device) if device is not None else torch.device("cpu")

    folder = find_dataset_dir(info, root)
    if folder is None:
        if not download:
            raise _not_found(info, None, root)
        folder = _download_all(info, user_cache_dir(info.name), progress, root)

    arrays = [read_idx(folder / spec.filename, spec, info) for spec in info.files]
    x_tr, y_tr, x_te, y_te = arrays
    _check_pair(x_tr, y_tr, folder / info.train_images.filename)
    _check_pair(x_te, y_te, folder / info.test_images.filename)

    mean, std = _pixel_stats(_ArrayKey(x_tr)) if normalize else (None, None)
    gen = torch.Generator().manual_seed(seed)
    i_tr = _choose(len(y_tr), n_train, gen, "n_train")
    i_te = _choose(len(y_te), n_test, gen, "n_test")
    common = dict(pad=pad, size=size, mean=mean, std=std, dtype=dtype, device=dev)
    return Dataset(
        name=info.name,
        x_train=_images_to_tensor(x_tr, index=i_tr, **common),  # type: ignore[arg-type]
        y_train=_labels_to_tensor(y_tr, i_tr, dev),
        x_test=_images_to_tensor(x_te, index=i_te, **common),  # type: ignore[arg-type]
        y_test=_labels_to_tensor(y_te, i_te, dev),
        classes=info.classes,
        source=folder,
        mean=mean,
        std=std,
        meta={"pad": pad, "resize": size, "subset_seed": seed if (n_train is not None or n_test is not None) else None},
    )


def _check_pair(images: np.ndarray, labels: np.ndarray, where: Path) -> None:
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{where} holds {images.shape[0]} images but its label file holds {labels.shape[0]} labels: "
            "the files do not belong together. Delete them and load again."
        )


_LOAD_DOC = """

    Parameters
    ----------
    root:
        A folder to look in first (see the module doc for the whole search order).
    download:
        Download into the user cache when the files are nowhere to be found.
    device:
        Where the tensors live (default CPU). Conversion happens there, chunk by chunk.
    dtype:
        Floating dtype of the images (labels are always ``int64``).
    normalize:
        Standardise with the training set's pixel mean and std (``Dataset.mean``/``std``);
        otherwise pixels stay on the 0..1 scale.
    resize:
        ``int`` or ``(height, width)``: resize once at load (bilinear, no antialias),
        e.g. ``224`` for AlexNet. Applied after ``pad``.
    pad:
        Zero-pad each side by this many pixels, before normalising, so the padding
        is background: ``pad=2`` gives LeNet-5's 32x32 input, as the 1998 paper did.
    n_train, n_test:
        Keep only a seeded random subset of each split, chosen *before* padding and
        resizing (cheap even with ``resize=224``); ``None`` keeps everything.
    seed:
        Seed for the subset choice.
    progress:
        Show a progress bar while downloading.
    """


def load_fashion_mnist(
    root: Optional[PathLike] = None,
    *,
    download: bool = True,
    device: Union[str, torch.device, None] = None,
    dtype: torch.dtype = torch.float32,
    normalize: bool = True,
    resize: Optional[Size] = None,
    pad: int = 0,
    n_train: Optional[int] = None,
    n_test: Optional[int] = None,
    seed: int = 0,
    progress: bool = True,
) -> Dataset:
    return _load(
        FASHION_MNIST, root, download=download, device=device, dtype=dtype, normalize=normalize,
        resize=resize, pad=pad, n_train=n_train, n_test=n_test, seed=seed, progress=progress,
    )  # fmt: skip


def load_mnist(
    root: Optional[PathLike] = None,
    *,
    download: bool = True,
    device: Union[str, torch.device, None] = None,
    dtype: torch.dtype = torch.float32,
    normalize: bool = True,
    resize: Optional[Size] = None,
    pad: int = 0,
    n_train: Optional[int] = None,
    n_test: Optional[int] = None,
    seed: int = 0,
    progress: bool = True,
) -> Dataset:
    return _load(
        MNIST, root, download=download, device=device, dtype=dtype, normalize=normalize,
        resize=resize, pad=pad, n_train=n_train, n_test=n_test, seed=seed, progress=progress,
    )  # fmt: skip


load_fashion_mnist.__doc__ = (
    "Fashion-MNIST (60,000 train / 10,000 test 28x28 images of 10 kinds of clothing) "
    "as a preloaded :class:`Dataset`." + _LOAD_DOC
)
load_mnist.__doc__ = (
    "MNIST (60,000 train / 10,000 test 28x28 handwritten digits) as a preloaded "
    ":class:`Dataset`. No distribution packages MNIST, so unless the files are in "
    f"``root``, ``${ENV_VAR}`` or the user cache they are downloaded." + _LOAD_DOC
)
