"""The Document: layers + history + provenance, metrics and export."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from app.core.document import Document, difference_map
from app.core.errors import ImageIOError, InvalidInputError
from app.core.layers import Layer, LayerKind


def image(h: int = 24, w: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


def kinds(doc: Document) -> list[str]:
    return [layer.kind.value for layer in doc.layers]


def test_from_image() -> None:
    doc = Document.from_image(image())
    assert doc.size == (24, 32)
    assert doc.original.locked and doc.original.kind is LayerKind.ORIGINAL
    assert doc.result_layer() is None and doc.mask_layer(create=False) is None
    assert doc.ground_truth is None and doc.metrics() is None
    assert doc.title == "Untitled" and not doc.modified


def test_from_image_rejects_bad_shape() -> None:
    with pytest.raises(InvalidInputError):
        Document.from_image(np.zeros((4, 4), np.float32))


def test_mask_layer_created_on_first_use_on_top_not_undoable() -> None:
    doc = Document.from_image(image())
    mask = doc.mask_layer()
    assert mask is not None and mask.shape == doc.size and not mask.data.any()
    assert doc.mask_layer() is mask
    assert kinds(doc) == ["original", "mask"]
    assert not doc.history.can_undo


def test_set_result_is_one_step_with_difference_latent_and_recipe() -> None:
    doc = Document.from_image(image())
    doc.mask_layer()
    changed: list[int] = []
    doc.changed.connect(lambda: changed.append(1))
    result = image(seed=1)
    latent = np.random.default_rng(2).standard_normal((6, 8)).astype(np.float32)
    doc.set_result(
        result,
        task="denoise",
        method="bilateral",
        params={"sigma": 25},
        extra_layers={"Latent 1": latent},
    )
    assert kinds(doc) == ["original", "result", "difference", "latent", "mask"]
    assert np.array_equal(doc.result_layer().data, result)
    diff = doc.difference_layer()
    assert diff is not None and not diff.visible and diff.shape == doc.size
    expected = np.abs(result - doc.original.data).mean(axis=2)
    np.testing.assert_allclose(diff.data, expected, atol=1e-6)
    lat = doc.layers.find(LayerKind.LATENT, "Latent 1")
    assert lat.meta["scale"] == 4 and lat.meta["range"] == [latent.min(), latent.max()]
    assert doc.recipe[0]["task"] == "denoise" and doc.recipe[0]["params"] == {"sigma": 25}
    assert doc.history.undo_texts == ["Denoise (bilateral)"] and changed
    doc.history.undo()
    assert kinds(doc) == ["original", "mask"] and doc.recipe == []
    doc.history.redo()
    assert kinds(doc) == ["original", "result", "difference", "latent", "mask"]


def test_set_result_again_replaces_undoably() -> None:
    doc = Document.from_image(image())
    first, second = image(seed=1), image(seed=2)
    doc.set_result(first, task="denoise", method="a", params={})
    result_layer = doc.result_layer()
    doc.set_result(second, task="denoise", method="b", params={})
    assert doc.result_layer() is result_layer
    assert np.array_equal(result_layer.data, second)
    assert len(doc.layers.all(LayerKind.RESULT)) == 1 and len(doc.recipe) == 2
    doc.history.undo()
    assert np.array_equal(result_layer.data, first)
    assert result_layer.meta["method"] == "a" and len(doc.recipe) == 1
    np.testing.assert_allclose(
        doc.difference_layer().data, difference_map(first, doc.original.data), atol=0
    )


def test_set_result_upscaled_keeps_difference_at_image_size() -> None:
    doc = Document.from_image(image(8, 10))
    up = np.repeat(np.repeat(doc.original.data, 4, axis=0), 4, axis=1)
    doc.set_result(up, task="upscale", method="nearest", params={"scale": 4})
    assert doc.result_layer().meta["scale"] == 4 and doc.recipe[0]["scale"] == 4
    assert doc.difference_layer().shape == (8, 10)
    assert doc.difference_layer().data.max() < 1e-6


def test_set_mask_and_wrong_size() -> None:
    doc = Document.from_image(image())
    mask = np.zeros(doc.size, np.float32)
    mask[2:5, 3:9] = 1
    doc.set_mask(mask)
    assert np.array_equal(doc.mask_layer().data, mask)
    mask[:] = 0  # the document keeps its own copy
    assert doc.mask_layer().data.sum() == 18
    doc.history.undo()
    assert not doc.mask_layer().data.any()
    with pytest.raises(InvalidInputError, match="must be the same size"):
        doc.set_mask(np.zeros((3, 3), np.float32))


def test_apply_mask_edit_restores_exact_pixels() -> None:
    doc = Document.from_image(image())
    layer = doc.mask_layer()
    layer.data[...] = np.random.default_rng(3).random(doc.size, dtype=np.float32)
    original = layer.data.copy()
    rect = (4, 6, 14, 20)
    before = layer.data[4:14, 6:20].copy()
    layer.data[4:14, 6:20] = 1.0  # painted live
    doc.apply_mask_edit(rect, before, layer.data[4:14, 6:20].copy())
    doc.history.undo()
    assert np.array_equal(layer.data, original)
    doc.history.redo()
    assert layer.data[4:14, 6:20].all()


def test_mask_edit_recorder() -> None:
    doc = Document.from_image(image())
    recorder = doc.begin_mask_edit()
    recorder.save((0, 0, 5, 5))
    doc.mask_layer().data[0:5, 0:5] = 1
    assert doc.end_mask_edit(recorder)
    assert doc.history.undo_text == "Brush stroke"
    doc.history.undo()
    assert not doc.mask_layer().data.any()
    assert not doc.end_mask_edit(doc.begin_mask_edit())


def test_layer_helpers_are_undoable() -> None:
    doc = Document.from_image(image())
    extra = Layer("Strength", LayerKind.STRENGTH, np.ones(doc.size, np.float32))
    doc.mask_layer()
    doc.add_layer(extra)
    assert kinds(doc) == ["original", "strength", "mask"]
    doc.set_layer_property(extra, "opacity", 0.5)
    doc.move_layer(1, 2)
    doc.remove_layer(extra)
    assert kinds(doc) == ["original", "mask"]
    for _ in range(3):
        doc.history.undo()
    assert kinds(doc) == ["original", "strength", "mask"] and extra.opacity == 1.0
    with pytest.raises(InvalidInputError, match="cannot be deleted"):
        doc.remove_layer(doc.original)


def test_metrics_with_ground_truth() -> None:
    clean = image(seed=5)
    noisy = np.clip(clean + np.random.default_rng(6).normal(0, 0.1, clean.shape), 0, 1)
    doc = Document.from_image(noisy.astype(np.float32), ground_truth=clean)
    assert kinds(doc) == ["ground_truth", "original"]
    assert not doc.layers[0].visible
    assert doc.metrics() is None  # no result yet
    doc.set_result(clean.copy(), task="denoise", method="oracle", params={})
    values = doc.metrics(include_input=True)
    assert values is not None
    assert values["psnr"] == float("inf") and values["ssim"] == pytest.approx(1.0)
    assert 10 < values["psnr_input"] < 30 and values["ssim_input"] < 1.0


def test_ground_truth_must_match_size() -> None:
    with pytest.raises(InvalidInputError, match="ground truth"):
        Document.from_image(image(), ground_truth=image(10, 10))


def _png_with_icc(path: Path) -> bytes:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, icc_profile=profile)
    return profile


def test_export_keeps_metadata_and_source_untouched(tmp_path: Path) -> None:
    src = tmp_path / "photo.png"
    profile = _png_with_icc(src)
    source_bytes = src.read_bytes()
    doc = Document.open(src)
    assert doc.source == src and doc.title == "photo.png"
    doc.set_result(1.0 - doc.original.data, task="denoise", method="invert", params={})
    out = doc.export(tmp_path / "out.png")
    assert out == tmp_path / "out.png"
    with Image.open(out) as written:
        assert written.info.get("icc_profile") == profile
        exported = np.asarray(written.convert("RGB"))
    assert np.array_equal(exported, 255 - np.asarray(Image.open(io.BytesIO(source_bytes))))
    assert src.read_bytes() == source_bytes


def test_export_never_overwrites_source_or_existing(tmp_path: Path) -> None:
    src = tmp_path / "photo.png"
    _png_with_icc(src)
    before = src.read_bytes()
    doc = Document.open(src)
    with pytest.raises(ImageIOError):
        doc.export(src, overwrite=True)
    assert src.read_bytes() == before
    doc.export(tmp_path / "a.png")
    with pytest.raises(ImageIOError):
        doc.export(tmp_path / "a.png")
    doc.export(tmp_path / "a.png", overwrite=True)


def test_open_missing_file() -> None:
    with pytest.raises(ImageIOError):
        Document.open("/nonexistent/photo.jpg")


def test_layer_list_changes_reach_document_changed() -> None:
    doc = Document.from_image(image())
    seen: list[int] = []
    doc.changed.connect(lambda: seen.append(1))
    doc.mask_layer()
    assert seen == [1]
