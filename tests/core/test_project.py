"""``.patina`` projects: round trip, corruption, autosave and recovery."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from app.core import project
from app.core.document import Document
from app.core.errors import ImageIOError
from app.core.image_meta import ImageMeta
from app.core.layers import LayerKind
from app.core.project import (
    autosave,
    autosave_path,
    discard_autosave,
    find_recoverable,
    load_project,
    read_manifest,
    save_project,
)


def make_doc(seed: int = 0) -> Document:
    rng = np.random.default_rng(seed)
    clean = rng.random((20, 28, 3), dtype=np.float32)
    noisy = np.clip(clean + rng.normal(0, 0.05, clean.shape), 0, 1).astype(np.float32)
    meta = ImageMeta(
        format="PNG",
        bit_depth=16,
        mode="RGB",
        icc_profile=b"\x00icc\xffprofile",
        exif=b"Exif\x00\x00II*\x00",
        alpha=rng.random((20, 28), dtype=np.float32),
        dpi=(300.0, 300.0),
        source=Path("/photos/scan.png"),
    )
    doc = Document.from_image(
        noisy,
        meta=meta,
        source="/photos/scan.png",
        ground_truth=clean,
        recipe=[{"task": "degrade", "spec": {"sigma": 12.5, "seed": 3}}],
    )
    mask = np.zeros((20, 28), np.float32)
    mask[3:9, 4:20] = 0.75
    doc.set_mask(mask)
    latent = rng.standard_normal((5, 7)).astype(np.float32)
    doc.set_result(
        clean,
        task="denoise",
        method="bilateral",
        params={"sigma": 12.5},
        extra_layers={"Latent": latent},
    )
    doc.mask_layer().opacity = 0.4
    doc.difference_layer().visible = True
    doc.result_layer().name = "Denoised"
    doc.params = {"restore": {"task": "denoise", "sigma": 12.5}, "brush": [12, 0.5]}
    return doc


def assert_same(a: Document, b: Document) -> None:
    assert len(a.layers) == len(b.layers)
    for x, y in zip(a.layers, b.layers):
        assert (x.name, x.kind, x.visible, x.opacity, x.locked) == (
            y.name,
            y.kind,
            y.visible,
            y.opacity,
            y.locked,
        )
        assert json.dumps(x.meta) == json.dumps(y.meta)
        assert x.data.dtype == y.data.dtype and np.array_equal(x.data, y.data)
    assert a.recipe == b.recipe and a.params == b.params
    assert str(a.source) == str(b.source)


def test_round_trip(tmp_path: Path) -> None:
    doc = make_doc()
    path = save_project(doc, tmp_path / "scan.patina")
    assert path == tmp_path / "scan.patina" and doc.project_path == path
    assert not doc.modified
    loaded = load_project(path)
    assert_same(doc, loaded)
    assert loaded.project_path == path and not loaded.history.can_undo
    assert np.array_equal(loaded.ground_truth, doc.ground_truth)
    meta = loaded.meta
    assert isinstance(meta, ImageMeta)
    assert meta.icc_profile == doc.meta.icc_profile and meta.exif == doc.meta.exif
    assert np.array_equal(meta.alpha, doc.meta.alpha)
    assert meta.dpi == (300.0, 300.0) and meta.source == Path("/photos/scan.png")
    assert (meta.format, meta.bit_depth, meta.mode) == ("PNG", 16, "RGB")
    assert loaded.metrics() == pytest.approx(doc.metrics())


def test_round_trip_through_document_open_and_minimal_doc(tmp_path: Path) -> None:
    doc = Document.from_image(np.full((4, 5, 3), 0.5, np.float32))
    path = save_project(doc, tmp_path / "plain")  # suffix appended
    assert path.suffix == ".patina"
    loaded = Document.open(path)
    assert_same(doc, loaded)
    assert loaded.meta is None and loaded.source is None


def test_manifest_contents(tmp_path: Path) -> None:
    path = save_project(make_doc(), tmp_path / "p.patina")
    manifest = read_manifest(path)
    assert manifest["version"] == project.FORMAT_VERSION and manifest["ground_truth"]
    assert [e["kind"] for e in manifest["layers"]] == [
        "ground_truth",
        "original",
        "result",
        "difference",
        "latent",
        "mask",
    ]
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
    assert {"manifest.json", "layers/000.npy", "meta/alpha.npy"} <= names


def test_save_is_atomic_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_project(make_doc(), tmp_path / "p.patina")
    before = path.read_bytes()
    doc = make_doc(seed=1)
    doc.params = {"bad": object()}  # not JSON-serialisable
    with pytest.raises(ImageIOError, match="cannot write .*p.patina"):
        save_project(doc, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.patina"]


def _rewrite(path: Path, replace: dict[str, bytes | None]) -> None:
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    for name, data in replace.items():
        if data is None:
            members.pop(name, None)
        else:
            members[name] = data
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _manifest_with(path: Path, **changes: object) -> bytes:
    manifest = read_manifest(path)
    manifest.update(changes)
    return json.dumps(manifest).encode()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("not_zip", "not a Patina project"),
        ("truncated", "not a Patina project"),
        ("no_manifest", "no manifest"),
        ("bad_json", "manifest cannot be read"),
        ("newer", "newer version of Patina"),
        ("missing_layer", "damaged"),
        ("pickled_layer", "damaged"),
        ("bad_kind", "damaged"),
        ("wrong_shape", "damaged"),
    ],
)
def test_corrupt_project_raises_image_io_error(tmp_path: Path, damage: str, message: str) -> None:
    path = save_project(make_doc(), tmp_path / "p.patina")
    if damage == "not_zip":
        path.write_text("hello")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    elif damage == "no_manifest":
        _rewrite(path, {"manifest.json": None})
    elif damage == "bad_json":
        _rewrite(path, {"manifest.json": b"{not json"})
    elif damage == "newer":
        _rewrite(path, {"manifest.json": _manifest_with(path, version=99)})
    elif damage == "missing_layer":
        _rewrite(path, {"layers/001.npy": None})
    elif damage == "pickled_layer":
        import io

        buffer = io.BytesIO()
        np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
        _rewrite(path, {"layers/001.npy": buffer.getvalue()})
    elif damage == "bad_kind":
        layers = read_manifest(path)["layers"]
        layers[0]["kind"] = "sparkles"
        _rewrite(path, {"manifest.json": _manifest_with(path, layers=layers)})
    elif damage == "wrong_shape":
        import io

        buffer = io.BytesIO()
        np.save(buffer, np.zeros((3, 3), np.float32))
        _rewrite(path, {"layers/001.npy": buffer.getvalue()})  # the original must be RGB
    with pytest.raises(ImageIOError, match=message):
        load_project(path)


def test_missing_project() -> None:
    with pytest.raises(ImageIOError, match="does not exist"):
        load_project("/nonexistent/x.patina")


def test_autosave_and_recovery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(project.AUTOSAVE_ENV, str(tmp_path / "auto"))
    assert find_recoverable() == []
    doc = make_doc()
    saved = save_project(doc, tmp_path / "work.patina")
    doc.set_mask(np.ones(doc.size, np.float32))
    copy = autosave(doc)
    assert copy == autosave_path(doc) and copy.parent == tmp_path / "auto"
    assert doc.modified and doc.project_path == saved  # autosave is not a save
    (tmp_path / "auto" / "junk.patina").write_text("not a project")
    assert find_recoverable() == [copy]
    recovered = load_project(copy)
    assert recovered.project_path == saved
    assert recovered.mask_layer().data.all()
    assert read_manifest(copy)["autosave"] is True
    discard_autosave(doc)
    assert find_recoverable(tmp_path / "auto") == []


def test_project_of_opened_png_keeps_icc(tmp_path: Path) -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(np.zeros((6, 7, 3), np.uint8)).save(tmp_path / "a.png", icc_profile=profile)
    doc = Document.open(tmp_path / "a.png")
    loaded = load_project(save_project(doc, tmp_path / "a.patina"))
    assert loaded.meta.icc_profile == profile
    assert loaded.layers.find(LayerKind.ORIGINAL).locked
