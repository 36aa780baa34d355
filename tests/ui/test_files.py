"""Export, projects, masks on disk, autosave and recovery from the window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from app.core import image_io, project
from app.core.document import Document
from tests.ui.conftest import rng_image
from tests.ui.fakes import InvertService


def _photo_with_metadata(path: Path) -> Path:
    """An 8-bit PNG carrying an ICC profile and EXIF (camera make)."""
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "PatinaCam"  # Make
    pixels = (rng_image(48, 64, seed=5) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, icc_profile=icc, exif=exif.tobytes())
    return path


def _render(window, qtbot) -> None:  # noqa: ANN001
    window.jobs.service_override = InvertService()
    with qtbot.waitSignal(window.jobs.result_applied, timeout=20_000):
        window.render_full()


def test_export_keeps_metadata_and_never_overwrites(window, qtbot, tmp_path) -> None:  # noqa: ANN001
    source = _photo_with_metadata(tmp_path / "photo.png")
    assert window.open_path(source)
    _render(window, qtbot)
    written = window.files.export_to(tmp_path / "photo-restored.png", bit_depth=8)
    assert written is not None and written.exists()
    loaded = image_io.load(written)
    original = image_io.load(source)
    assert loaded.meta.icc_profile == original.meta.icc_profile
    assert loaded.meta.exif is not None and b"PatinaCam" in loaded.meta.exif
    np.testing.assert_allclose(loaded.pixels, 1 - original.pixels, atol=1 / 255 + 1e-6)
    # the original is never written over; an existing file is not replaced silently
    before = source.read_bytes()
    assert window.files.export_to(source) is None
    assert source.read_bytes() == before
    assert window.files.export_to(written) is None


def test_export_16_bit_tiff(window, qtbot, tmp_path) -> None:  # noqa: ANN001
    window.set_document(Document.from_image(rng_image(32, 32)))
    _render(window, qtbot)
    written = window.files.export_to(tmp_path / "out.tif", bit_depth=16)
    assert written is not None and image_io.load(written).meta.bit_depth == 16


def test_project_round_trip(window, qtbot, tmp_path) -> None:  # noqa: ANN001
    doc = Document.from_image(rng_image(40, 50))
    window.set_document(doc)
    window.editor.fill_rect((5, 5, 15, 25))
    _render(window, qtbot)
    assert window.files.save_to(tmp_path / "work.patina")
    assert not doc.modified and "work.patina" in window.windowTitle()
    window.set_document(None)
    assert window.open_path(tmp_path / "work.patina")
    again = window.document
    np.testing.assert_array_equal(again.original.data, doc.original.data)
    np.testing.assert_array_equal(again.mask_layer().data, doc.mask_layer().data)
    np.testing.assert_array_equal(again.result_layer().data, doc.result_layer().data)
    assert [entry["method"] for entry in again.recipe] == ["invert"]
    assert [layer.name for layer in again.layers] == [layer.name for layer in doc.layers]


def test_mask_save_and_load(window, tmp_path) -> None:  # noqa: ANN001
    window.set_document(Document.from_image(rng_image(40, 50)))
    window.editor.fill_rect((0, 0, 10, 10))
    assert window.files.save_mask_to(tmp_path / "mask.png")
    window.tools.mask_clear()
    assert window.files.load_mask_from(tmp_path / "mask.png")
    assert window.document.mask_layer().data[5, 5] == 1.0
    assert "Load mask" in window.action("undo").text()
    bad = tmp_path / "small.png"
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(bad)
    assert not window.files.load_mask_from(bad)
    assert "5x5" in window.errors[-1].message.text()


def test_autosave_and_recover(window, autosave_dir) -> None:  # noqa: ANN001
    doc = Document.from_image(rng_image(30, 30))
    window.set_document(doc)
    assert window.files.autosave_now() is None, "nothing to save while unmodified"
    window.editor.fill_rect((0, 0, 5, 5))
    path = window.files.autosave_now()
    assert path is not None and path.parent == autosave_dir
    assert project.find_recoverable() == [path]
    window.set_document(None)
    assert window.files.recover(path)
    assert window.document.mask_layer().data[2, 2] == 1.0
    assert not path.exists()
    assert window.files.autosave_timer.interval() == 3 * 60 * 1000


def test_recent_files_and_drop(window, sample_path, qtbot) -> None:  # noqa: ANN001
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(sample_path))])
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(event)
    assert window.document is not None and window.document.source == sample_path
    assert window.files.recent_files()[0] == str(sample_path.resolve())
    window.files.fill_recent()
    assert window.files.recent_menu.actions()[0].text() == sample_path.name
