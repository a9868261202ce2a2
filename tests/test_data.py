"""classicnets.data: finding, checking, decoding and shaping Fashion-MNIST / MNIST."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import struct
import urllib.error
from dataclasses import replace
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import pytest
import torch

from classicnets import data as D

DEBIAN = Path("/usr/share/datasets/fashion-mnist")
needs_real = pytest.mark.skipif(
    not all((DEBIAN / s.filename).is_file() for s in D.FASHION_MNIST.files),
    reason="Fashion-MNIST is not installed: apt-get install dataset-fashion-mnist",
)


# --------------------------------------------------------------------------- helpers


def idx_bytes(array: np.ndarray) -> bytes:
    """An uncompressed uint8 IDX file holding ``array``."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def gz(raw: bytes, mtime: int = 0) -> bytes:
    return gzip.compress(raw, mtime=mtime)


def tiny_arrays(n_train: int = 12, n_test: int = 6, seed: int = 0) -> Dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": (np.arange(n_test) % 10).astype(np.uint8),
    }


def tiny_blobs(seed: int = 0) -> Dict[str, bytes]:
    """The four .gz files of a tiny fake dataset."""
    return {name: gz(idx_bytes(a)) for name, a in tiny_arrays(seed=seed).items()}


def info_for(blobs: Dict[str, bytes], *, system_dirs=(), urls=("http://example.invalid/fashion/",)) -> D.DatasetInfo:
    """FASHION_MNIST with the checksum table replaced by that of ``blobs``."""
    specs = {
        f: D.FileSpec(
            f, f"fake {f}", md5=hashlib.md5(b).hexdigest(), sha256=hashlib.sha256(gzip.decompress(b)).hexdigest()
        )
        for f, b in blobs.items()
    }
    return replace(
        D.FASHION_MNIST,
        urls=tuple(urls),
        system_dirs=tuple(str(d) for d in system_dirs),
        train_images=specs["train-images-idx3-ubyte.gz"],
        train_labels=specs["train-labels-idx1-ubyte.gz"],
        test_images=specs["t10k-images-idx3-ubyte.gz"],
        test_labels=specs["t10k-labels-idx1-ubyte.gz"],
    )


def write(folder: Path, blobs: Dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, blob in blobs.items():
        (folder / name).write_bytes(blob)
    return folder


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No CLASSICNETS_DATA, an empty user cache under tmp_path."""
    monkeypatch.delenv(D.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path


@pytest.fixture
def fake(isolated, monkeypatch):
    """A tiny fake Fashion-MNIST; nothing on the 'system'; the network fails unless a test says otherwise."""
    blobs = tiny_blobs()
    info = info_for(blobs, system_dirs=[isolated / "usr-share"])
    monkeypatch.setattr(D, "FASHION_MNIST", info)

    def no_network(url, timeout=30.0):
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(D, "_open_url", no_network)
    return blobs


class FakeResponse(io.BytesIO):
    """What urlopen returns, enough for download_file; ``fail_after`` bytes then an error."""

    def __init__(self, body: bytes, fail_after: Optional[int] = None) -> None:
        super().__init__(body)
        self.headers = {"Content-Length": str(len(body))}
        self.fail_after = fail_after

    def read(self, n: int = -1) -> bytes:
        if self.fail_after is not None and self.tell() >= self.fail_after:
            raise ConnectionResetError("connection reset mid-download")
        if self.fail_after is not None:
            n = min(n if n > 0 else self.fail_after, self.fail_after - self.tell())
        return super().read(n)


# --------------------------------------------------------------------------- the real data


@needs_real
def test_real_fashion_mnist_loads(isolated):
    ds = D.load_fashion_mnist(pad=0)
    assert ds.x_train.shape == (60000, 1, 28, 28) and ds.x_test.shape == (10000, 1, 28, 28)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert ds.y_train.shape == (60000,) and ds.y_test.shape == (10000,)
    assert int(ds.y_train.min()) == 0 and int(ds.y_train.max()) == 9
    assert torch.bincount(ds.y_train).tolist() == [6000] * 10
    assert torch.bincount(ds.y_test).tolist() == [1000] * 10
    assert ds.classes == D.FASHION_MNIST_CLASSES and ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"
    assert ds.num_classes == 10 and ds.name == "fashion-mnist" and ds.source == DEBIAN
    # the well-known Fashion-MNIST pixel statistics, and standardised training pixels
    assert ds.mean == pytest.approx(0.2860, abs=1e-4) and ds.std == pytest.approx(0.3530, abs=1e-4)
    assert float(ds.x_train.mean()) == pytest.approx(0.0, abs=1e-4)
    assert float(ds.x_train.std()) == pytest.approx(1.0, abs=1e-4)
    # the first labels of each split, as published
    assert ds.y_train[:5].tolist() == [9, 0, 0, 3, 0] and ds.y_test[:5].tolist() == [9, 2, 1, 1, 6]
    assert "fashion-mnist" in repr(ds) and "60000" in repr(ds)


@needs_real
def test_real_debian_files_pass_the_checksums_despite_rewritten_gzip_headers():
    """Debian's files differ from upstream's .gz (headers rewritten) but hold the same bytes."""
    for spec in D.FASHION_MNIST.files:
        raw = D.verify_file(DEBIAN / spec.filename, spec, D.FASHION_MNIST)
        assert hashlib.sha256(raw).hexdigest() == spec.sha256


@needs_real
def test_real_pad_unnormalised_and_cached(isolated):
    ds = D.load_fashion_mnist(pad=2, normalize=False)
    assert ds.x_train.shape == (60000, 1, 32, 32) and ds.input_shape == (1, 32, 32)
    assert float(ds.x_train.min()) == 0.0 and float(ds.x_train.max()) == 1.0 and ds.mean is None
    # padding is background (0), and the middle is the unpadded image
    plain = D.load_fashion_mnist(normalize=False, pad=0)
    assert torch.equal(ds.x_test[:, :, 2:30, 2:30], plain.x_test)
    assert float(ds.x_train[:, :, :2].abs().max()) == 0.0
    # decoded arrays are cached: the same array object comes back
    spec = D.FASHION_MNIST.train_images
    assert D.read_idx(DEBIAN / spec.filename, spec, D.FASHION_MNIST) is D.read_idx(
        DEBIAN / spec.filename, spec, D.FASHION_MNIST
    )


# --------------------------------------------------------------------------- shapes


def test_the_default_is_lenet5s_32x32(fake, isolated):
    ds = D.load_fashion_mnist(write(isolated / "root", fake), normalize=False)
    assert ds.input_shape == (1, 32, 32) and ds.meta["pad"] == 2
    assert float(ds.x_train[:, :, :2].abs().max()) == 0.0  # background all round
    with pytest.raises(ValueError, match="pad must be a whole number ≥ 0, got 2.5"):
        D.load_fashion_mnist(isolated / "root", pad=2.5)


def test_pad_resize_subset_shapes(fake, isolated):
    write(isolated / "root", fake)
    ds = D.load_fashion_mnist(isolated / "root", pad=2)
    assert ds.x_train.shape == (12, 1, 32, 32) and ds.x_test.shape == (6, 1, 32, 32)
    # padding is background: (0 - mean) / std after normalising
    assert torch.allclose(ds.x_train[:, :, 0, :], torch.tensor(-ds.mean / ds.std))
    assert D.load_fashion_mnist(isolated / "root", resize=20).x_train.shape == (12, 1, 20, 20)
    ds = D.load_fashion_mnist(isolated / "root", resize=(40, 36), pad=2, n_train=5, n_test=3, dtype=torch.float16)
    assert ds.x_train.shape == (5, 1, 40, 36) and ds.x_test.shape == (3, 1, 40, 36)
    assert ds.x_train.dtype == torch.float16 and ds.y_train.shape == (5,)


def test_resize_is_bilinear_without_antialias(fake, isolated):
    write(isolated / "root", fake)
    ds = D.load_fashion_mnist(isolated / "root", resize=56, normalize=False)
    plain = D.load_fashion_mnist(isolated / "root", pad=0, normalize=False)
    expected = torch.nn.functional.interpolate(plain.x_train, size=(56, 56), mode="bilinear", antialias=False)
    assert torch.allclose(ds.x_train, expected)  # a resize starts from the 28×28 image: no padding by default
    assert ds.meta["pad"] == 0 and D.load_fashion_mnist(isolated / "root", normalize=False).meta["pad"] == 2
    padded = D.load_fashion_mnist(isolated / "root", resize=56, pad=2, normalize=False)
    expected = torch.nn.functional.interpolate(
        D.load_fashion_mnist(isolated / "root", normalize=False).x_train,
        size=(56, 56),
        mode="bilinear",
        antialias=False,
    )
    assert torch.allclose(padded.x_train, expected)  # pad first, then resize


def test_subset_is_seeded_and_checked(fake, isolated):
    write(isolated / "root", fake)
    ds = D.load_fashion_mnist(isolated / "root", pad=0)
    a, b, c = ds.subset(5, 2, seed=1), ds.subset(5, 2, seed=1), ds.subset(5, 2, seed=2)
    assert a.x_train.shape == (5, 1, 28, 28) and a.y_test.shape == (2,)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_train, b.y_train)
    assert not torch.equal(a.x_train, c.x_train)
    assert ds.subset(None, 3).x_train.shape[0] == 12
    # load-time subsets pick the same examples as .subset with the same seed
    assert torch.equal(D.load_fashion_mnist(isolated / "root", n_train=5, n_test=2, seed=1, pad=0).x_train, a.x_train)
    with pytest.raises(ValueError, match="n_train=13"):
        ds.subset(13)


def test_bad_arguments(fake, isolated):
    write(isolated / "root", fake)
    with pytest.raises(ValueError, match="floating"):
        D.load_fashion_mnist(isolated / "root", dtype=torch.int64)
    with pytest.raises(ValueError, match="pad"):
        D.load_fashion_mnist(isolated / "root", pad=-1)
    with pytest.raises(ValueError, match="resize"):
        D.load_fashion_mnist(isolated / "root", resize=(1, 2, 3))


def test_memory_check_gives_advice():
    with pytest.raises(D.DataError, match="n_train"):
        D._check_memory((10**7, 1, 224, 224), torch.float32, torch.device("cpu"))


# --------------------------------------------------------------------------- where the files are found


def test_search_order_cache_then_system(fake, isolated):
    system = write(isolated / "usr-share", fake)
    assert D.load_fashion_mnist(download=False).source == system
    cache = write(D.user_cache_dir("fashion-mnist"), fake)
    assert cache == isolated / "xdg" / "classicnets" / "fashion-mnist"
    assert D.load_fashion_mnist(download=False).source == cache
    assert D.search_dirs(D.FASHION_MNIST) == [cache, system]


def test_a_named_place_is_the_only_place(fake, isolated, monkeypatch):
    write(isolated / "usr-share", fake)
    env_direct = write(isolated / "env", fake)
    monkeypatch.setenv(D.ENV_VAR, str(env_direct))
    assert D.load_fashion_mnist(download=False).source == env_direct
    env_sub = write(isolated / "env" / "fashion-mnist", fake)
    assert D.load_fashion_mnist(download=False).source == env_sub  # the subfolder comes first
    root = write(isolated / "root", fake)
    assert D.load_fashion_mnist(root, download=False).source == root
    nested = write(isolated / "root2" / "fashion-mnist", fake)
    assert D.load_fashion_mnist(str(isolated / "root2"), download=False).source == nested
    assert D.search_dirs(D.FASHION_MNIST, root) == [root, root / "fashion-mnist"]
    assert D.search_dirs(D.FASHION_MNIST) == [env_sub, env_direct]


def test_a_root_that_does_not_exist_is_an_error_not_a_fall_back(fake, isolated):
    write(isolated / "usr-share", fake)  # a good copy elsewhere must not be used silently
    with pytest.raises(D.DatasetNotFoundError, match=r"root=.*nope.*does not exist"):
        D.load_fashion_mnist(isolated / "nope")


def test_a_root_with_three_of_four_files_names_the_missing_one(fake, isolated):
    write(isolated / "usr-share", fake)
    partial = write(isolated / "root", {k: v for k, v in fake.items() if "t10k-labels" not in k})
    with pytest.raises(D.DatasetNotFoundError) as err:
        D.load_fashion_mnist(partial)
    assert f"{partial} holds 3 of the 4 Fashion-MNIST files; missing: t10k-labels-idx1-ubyte.gz" in str(err.value)


def test_a_root_with_gunzipped_files_says_so(fake, isolated):
    root = isolated / "root"
    write(root, {k[:-3]: gzip.decompress(v) for k, v in fake.items()})
    with pytest.raises(D.DatasetNotFoundError, match="holds 0 of the 4") as err:
        D.load_fashion_mnist(root)
    assert "Uncompressed files found: train-images-idx3-ubyte," in str(err.value) and "gzip -n" in str(err.value)


def test_empty_or_wrong_classicnets_data_is_an_error(fake, isolated, monkeypatch):
    write(isolated / "usr-share", fake)
    monkeypatch.setenv(D.ENV_VAR, "")
    with pytest.raises(D.DataError, match="CLASSICNETS_DATA is set but empty"):
        D.load_fashion_mnist()
    monkeypatch.setenv(D.ENV_VAR, str(write(isolated / "empty", {})))
    with pytest.raises(D.DatasetNotFoundError, match="holds none of the files"):
        D.load_fashion_mnist()


def test_the_loader_says_which_copy_it_used(fake, isolated, capsys):
    system = write(isolated / "usr-share", fake)
    ds = D.load_fashion_mnist()
    assert capsys.readouterr().out == f"Fashion-MNIST: {system} (the dataset-fashion-mnist package)\n"
    assert ds.meta["origin"] == f"{system} (the dataset-fashion-mnist package)"
    D.load_fashion_mnist(system, progress=False)
    assert capsys.readouterr().out == ""


def test_an_unreadable_folder_is_skipped_with_a_warning(fake, isolated, monkeypatch):
    cache = write(D.user_cache_dir("fashion-mnist"), fake)
    system = write(isolated / "usr-share", fake)
    listdir = os.listdir

    def deny(path):
        if Path(path) == cache:
            raise PermissionError(13, "Permission denied")
        return listdir(path)

    monkeypatch.setattr(D.os, "listdir", deny)
    with pytest.warns(UserWarning, match=f"skipping {cache}: cannot read it \\(Permission denied\\)"):
        assert D.load_fashion_mnist(download=False).source == system


def test_an_incomplete_system_folder_is_skipped_with_a_warning(fake, isolated):
    write(isolated / "usr-share", {k: v for k, v in fake.items() if "t10k-labels" not in k})
    with pytest.warns(UserWarning, match="missing: t10k-labels-idx1-ubyte.gz"):
        with pytest.raises(D.DatasetNotFoundError, match="Downloading is off"):
            D.load_fashion_mnist(download=False)


def test_a_read_only_cache_is_reported_as_such_not_as_a_failed_download(fake, isolated, monkeypatch):
    blocker = isolated / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    calls = []
    monkeypatch.setattr(D, "_open_url", lambda url, timeout=30.0: calls.append(url))
    with pytest.raises(D.DatasetNotFoundError) as err:
        D.load_fashion_mnist()
    assert "the user cache" in str(err.value) and "cannot be written" in str(err.value)
    assert "XDG_CACHE_HOME" in str(err.value) and calls == []


def test_stale_part_files_of_a_killed_download_are_swept(fake, isolated, monkeypatch):
    cache = D.user_cache_dir("fashion-mnist")
    cache.mkdir(parents=True)
    stale, live = cache / ".train-images-idx3-ubyte.gz.abc123.part", cache / ".t10k-images-idx3-ubyte.gz.def4.part"
    stale.write_bytes(b"half a file")
    live.write_bytes(b"another download, still running")
    os.utime(stale, (1, 1))
    monkeypatch.setattr(D, "_open_url", lambda url, timeout=30.0: FakeResponse(fake[url.rsplit("/", 1)[1]]))
    D.load_fashion_mnist(progress=False)
    assert not stale.exists() and live.exists()


def test_default_cache_is_under_home(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert D.user_cache_dir("mnist") == tmp_path / ".cache" / "classicnets" / "mnist"


# --------------------------------------------------------------------------- checksums and decoding


def test_checksum_failure_names_the_file_and_what_to_do(fake, isolated):
    root = write(isolated / "root", fake)
    bad = root / "train-labels-idx1-ubyte.gz"
    bad.write_bytes(gz(idx_bytes(np.zeros(12, np.uint8))))
    with pytest.raises(D.DataError) as err:
        D.load_fashion_mnist(root)
    msg = str(err.value)
    assert isinstance(err.value, RuntimeError)
    assert str(bad) in msg and "Checksum mismatch" in msg
    assert D.FASHION_MNIST.train_labels.md5 in msg and hashlib.md5(bad.read_bytes()).hexdigest() in msg
    assert "Delete" in msg


def test_checksum_failure_in_the_system_folder_says_reinstall(fake, isolated):
    system = write(isolated / "usr-share", fake)
    (system / "t10k-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(D.DataError, match="apt-get install --reinstall dataset-fashion-mnist") as err:
        D.load_fashion_mnist()
    assert "t10k-images-idx3-ubyte.gz" in str(err.value) and "not a readable gzip" in str(err.value)


def test_recompressed_file_with_same_content_is_accepted(fake, isolated):
    """What Debian does: same IDX bytes, different gzip header -> other md5, same sha256."""
    root = write(isolated / "root", fake)
    name = "train-images-idx3-ubyte.gz"
    repacked = gz(gzip.decompress(fake[name]), mtime=1591347949)
    assert hashlib.md5(repacked).hexdigest() != D.FASHION_MNIST.train_images.md5
    (root / name).write_bytes(repacked)
    assert D.load_fashion_mnist(root, pad=0).x_train.shape == (12, 1, 28, 28)


def test_mnist_file_in_the_fashion_folder_is_called_out():
    spec = D.FASHION_MNIST.train_labels
    assert D._other_dataset(D.MNIST.train_labels.md5, None, spec) == "MNIST"
    assert D._other_dataset(hashlib.md5(b"x").hexdigest(), None, spec) is None


def test_corrupt_idx_magic(fake, isolated, monkeypatch):
    arr = np.arange(12, dtype=np.uint8)
    with pytest.raises(D.DataError, match="bad magic number 01020304"):
        D.parse_idx(b"\x01\x02\x03\x04" + arr.tobytes(), where="x.idx")
    with pytest.raises(D.DataError, match="truncated"):
        D.parse_idx(idx_bytes(np.zeros((4, 28, 28), np.uint8))[:-5], where="x.idx")
    with pytest.raises(D.DataError, match="images"):
        D.parse_idx(idx_bytes(arr), where="x.idx", ndim=3)
    ok = D.parse_idx(idx_bytes(np.ones((2, 3), np.uint8)))
    assert ok.shape == (2, 3) and not ok.flags.writeable

    # through the loader: a file whose checksum is right but whose header is not IDX
    bad = dict(fake)
    bad["train-images-idx3-ubyte.gz"] = gz(b"\x08\x03\x00\x00" + bytes(100))
    monkeypatch.setattr(D, "FASHION_MNIST", info_for(bad))
    root = write(isolated / "root", bad)
    with pytest.raises(D.DataError, match="not an IDX file") as err:
        D.load_fashion_mnist(root)
    assert "train-images-idx3-ubyte.gz" in str(err.value)


def test_images_and_labels_must_match(isolated, monkeypatch):
    arrays = tiny_arrays()
    arrays["train-labels-idx1-ubyte.gz"] = arrays["train-labels-idx1-ubyte.gz"][:-1]
    blobs = {k: gz(idx_bytes(v)) for k, v in arrays.items()}
    monkeypatch.setattr(D, "FASHION_MNIST", info_for(blobs))
    with pytest.raises(D.DataError, match="12 images but its label file holds 11"):
        D.load_fashion_mnist(write(isolated / "root", blobs))


def test_cache_notices_a_replaced_file(isolated):
    path = isolated / "a.gz"
    path.write_bytes(gz(idx_bytes(np.zeros(3, np.uint8))))
    first = D.read_idx(path)
    assert D.read_idx(path) is first
    path.write_bytes(gz(idx_bytes(np.ones(4, np.uint8))))
    os.utime(path, ns=(1, 1))
    assert D.read_idx(path).tolist() == [1, 1, 1, 1]


# --------------------------------------------------------------------------- nothing found / downloading


def test_missing_everything_gives_one_message_with_three_hints(fake, isolated):
    for download in (False, True):
        with pytest.raises(D.DatasetNotFoundError) as err:
            D.load_fashion_mnist(download=download)
        msg = str(err.value)
        assert "apt-get install dataset-fashion-mnist" in msg
        assert "CLASSICNETS_DATA" in msg
        assert "http://example.invalid/fashion/" in msg
        assert ("no network in tests" in msg) == download
    assert not D.user_cache_dir("fashion-mnist").exists() or not any(D.user_cache_dir("fashion-mnist").iterdir())


def test_real_missing_message_has_the_real_url(isolated, monkeypatch):
    monkeypatch.setattr(D, "FASHION_MNIST", replace(D.FASHION_MNIST, system_dirs=()))
    with pytest.raises(D.DatasetNotFoundError, match="fashion-mnist.s3-website.eu-central-1.amazonaws.com"):
        D.load_fashion_mnist(download=False)
    with pytest.raises(D.DatasetNotFoundError, match="CLASSICNETS_DATA") as err:
        D.load_mnist(download=False)
    assert "ossci-datasets.s3.amazonaws.com/mnist" in str(err.value) and "apt-get" not in str(err.value)


def test_download_success_then_no_network_needed(fake, isolated, monkeypatch):
    calls = []

    def serve(url, timeout=30.0):
        calls.append(url)
        return FakeResponse(fake[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(D, "_open_url", serve)
    ds = D.load_fashion_mnist(progress=False)
    cache = D.user_cache_dir("fashion-mnist")
    assert ds.source == cache and len(calls) == 4
    assert calls[0] == "http://example.invalid/fashion/train-images-idx3-ubyte.gz"
    assert sorted(p.name for p in cache.iterdir()) == sorted(fake)
    assert all((cache / n).read_bytes() == b for n, b in fake.items())
    assert ds.x_train.shape == (12, 1, 32, 32)
    D.load_fashion_mnist(progress=False)
    assert len(calls) == 4  # found in the cache the second time


def test_download_interrupted_midstream_leaves_no_partial_file(fake, isolated, monkeypatch):
    monkeypatch.setattr(D, "_DOWNLOAD_BLOCK", 64)
    monkeypatch.setattr(
        D, "_open_url", lambda url, timeout=30.0: FakeResponse(fake[url.rsplit("/", 1)[1]], fail_after=200)
    )
    with pytest.raises(D.DatasetNotFoundError, match="connection reset mid-download"):
        D.load_fashion_mnist(progress=False)
    cache = D.user_cache_dir("fashion-mnist")
    assert cache.is_dir() and list(cache.iterdir()) == []


def test_download_with_wrong_checksum_is_discarded(fake, isolated, monkeypatch):
    monkeypatch.setattr(D, "_open_url", lambda url, timeout=30.0: FakeResponse(gz(b"garbage")))
    with pytest.raises(D.DatasetNotFoundError, match="Checksum mismatch for the download of http://") as err:
        D.load_fashion_mnist(progress=False)
    assert ".part" not in str(err.value)  # never the name of a temporary file that is gone
    assert list(D.user_cache_dir("fashion-mnist").iterdir()) == []


def test_download_file_keeps_a_previous_good_file_on_failure(fake, isolated, monkeypatch):
    dest = isolated / "dl" / "train-labels-idx1-ubyte.gz"
    dest.parent.mkdir()
    dest.write_bytes(b"previous")
    spec = D.FASHION_MNIST.train_labels
    monkeypatch.setattr(D, "_open_url", lambda url, timeout=30.0: FakeResponse(fake[dest.name], fail_after=10))
    with pytest.raises(ConnectionResetError):
        D.download_file("http://x/y", dest, spec, progress=False)
    assert dest.read_bytes() == b"previous" and list(dest.parent.iterdir()) == [dest]
    monkeypatch.setattr(D, "_open_url", lambda url, timeout=30.0: FakeResponse(fake[dest.name]))
    assert D.download_file("http://x/y", dest, spec, progress=False) == dest
    assert dest.read_bytes() == fake[dest.name]


def test_second_mirror_is_tried(fake, isolated, monkeypatch):
    info = replace(D.FASHION_MNIST, urls=("http://down.invalid/", "http://up.invalid/"))
    monkeypatch.setattr(D, "FASHION_MNIST", info)

    def serve(url, timeout=30.0):
        if url.startswith("http://down.invalid/"):
            raise urllib.error.URLError("mirror down")
        return FakeResponse(fake[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(D, "_open_url", serve)
    assert D.load_fashion_mnist(progress=False).x_test.shape == (6, 1, 32, 32)


def test_can_download_says_quickly_whether_the_server_answers(monkeypatch):
    import socket

    from classicnets.data import MNIST, can_download

    class Conn:
        def close(self):
            pass

    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: Conn())
    assert can_download(MNIST, timeout=0.5) is True

    def refuse(*a, **k):
        raise OSError("network is unreachable")

    monkeypatch.setattr(socket, "create_connection", refuse)
    assert can_download(MNIST, timeout=0.5) is False
