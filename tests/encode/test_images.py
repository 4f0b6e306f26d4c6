"""The one reader of image npz files: what the encode stage writes, and clear errors otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from premirna.core.errors import InputError
from premirna.encode.image import IMAGE_SHAPE
from premirna.encode.images import ImageSet, fingerprint, read_images
from premirna.encode.render import encode_many


@pytest.fixture
def npz(tmp_path):
    images, encodable = encode_many(["GGGAAACCC", "ACGUACGU"], ["(((...)))", "........"])
    path = tmp_path / "set.npz"
    np.savez(path, ids=np.array(["a", "b"]), images=images, labels=np.array([1, 0], np.int8),
             encodable=encodable)
    return path


def test_read_images_keeps_the_encodable_rows_unless_asked(npz):
    kept = read_images(npz)
    assert kept.ids.tolist() == ["a"] and kept.labels.tolist() == [1]
    everything = read_images(npz, encodable_only=False)
    assert everything.encodable.tolist() == [True, False] and len(everything) == 2
    assert everything.subset(np.array([1])).ids.tolist() == ["b"]


def test_files_without_labels_or_ids_get_placeholders(tmp_path):
    path = tmp_path / "generated.npz"
    np.savez(path, images=np.full((3, *IMAGE_SHAPE), 255, np.uint8))
    found = read_images(path, encodable_only=False)
    assert found.ids.tolist() == ["0", "1", "2"] and found.labels.tolist() == [-1, -1, -1]


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda p: p.write_text("id\tsequence\n"), "not a numpy .npz archive"),
        (lambda p: np.save(p.with_suffix(".npy"), np.zeros(3)) or p.with_suffix(".npy").rename(p),
         "a single numpy array"),
        (lambda p: np.savez(p, pictures=np.zeros(3)), "no 'images' array"),
        (lambda p: np.savez(p, images=np.zeros((2, 100, 25, 3), np.uint8)), "must be N x 25"),
        (lambda p: np.savez(p, images=np.zeros((2, *IMAGE_SHAPE), np.uint8), ids=np.array(["x"])),
         "2 images but 1 ids"),
        (lambda p: np.savez(p, images=np.array([{"a": 1}], dtype=object)), "cannot read"),
    ],
)
def test_bad_files_are_one_clear_error_naming_the_file(tmp_path, write, message):
    path = tmp_path / "bad.npz"
    write(path)
    with pytest.raises(InputError, match=message) as error:
        read_images(path)
    assert str(path) in str(error.value)


def test_fingerprint_follows_ids_and_labels():
    a = ImageSet(np.array(["x", "y"]), np.zeros((2, *IMAGE_SHAPE), np.uint8), np.array([1, 0]))
    assert a.fingerprint() == fingerprint(["x", "y"], [1, 0]) != fingerprint(["x", "y"], [0, 1])
