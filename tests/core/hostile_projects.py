"""Hostile ``.patina`` projects, built from a real saved one with its manifest or members
changed: path traversal, absurd sizes and counts, NaN, wrong types, deep nesting.

:func:`run_project` opens one with :func:`app.core.project.load_project` and returns
(message, problem): opening must end in an :class:`ImageIOError` whose message names the
file, or in a document with sane values; anything else is the problem.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.core.document import Document
from app.core.errors import ImageIOError
from app.core.image_meta import ImageMeta
from app.core.project import MANIFEST, load_project, save_project

Members = dict[str, bytes]
Change = Callable[[dict[str, Any], Members], None]


def base_project(folder: Path) -> tuple[dict[str, Any], Members]:
    """(manifest, members) of a small real project: image + mask + result layers."""
    rng = np.random.default_rng(0)
    pixels = rng.random((12, 16, 3), dtype=np.float32)
    meta = ImageMeta("PNG", 8, "RGB", exif=b"Exif\x00\x00II*\x00", dpi=(300.0, 300.0))
    doc = Document.from_image(pixels, meta=meta, source="/photos/scan.png")
    doc.set_mask(np.zeros((12, 16), np.float32))
    doc.set_result(pixels, task="denoise", method="bilateral", params={"sigma": 10.0})
    path = save_project(doc, folder / "base.patina")
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    return json.loads(members.pop(MANIFEST)), members


def write(path: Path, manifest: dict[str, Any] | str, members: Members) -> Path:
    """A project zip from a manifest (dict or raw text) and members (plain, no zip64)."""
    text = manifest if isinstance(manifest, str) else json.dumps(manifest)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MANIFEST, text)
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def lie_about_size(path: Path, member: str, size: int) -> None:
    """Make the central directory claim ``member`` unpacks to ``size`` bytes."""
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        name_len = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46 : at + 46 + name_len] == member.encode():
            struct.pack_into("<I", data, at + 24, size)
        at = data.find(b"PK\x01\x02", at + 1)
    path.write_bytes(bytes(data))


def npy(shape: tuple[int, ...], dtype: str = "<f4", body: bytes = b"\0" * 64) -> bytes:
    """A .npy header claiming ``shape``, followed by ``body`` (usually far too short)."""
    header = repr({"descr": dtype, "fortran_order": False, "shape": shape})
    header += " " * ((64 - (len(header) + 11) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + body


def layer(manifest: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(entry for entry in manifest["layers"] if entry["kind"] == kind)


def meta_fields(manifest: dict[str, Any]) -> dict[str, Any]:
    return manifest["meta"]["fields"]  # type: ignore[no-any-return]


def nan_layer(m: dict[str, Any], members: Members) -> None:
    data = np.full((12, 16), np.nan, np.float32)
    buf = io.BytesIO()
    np.save(buf, data)
    members[layer(m, "mask")["file"]] = buf.getvalue()


@dataclass(frozen=True)
class ProjectCase:
    """``change(manifest, members)`` makes the hostile project; ``words`` are expected in
    the error (empty: the project opens, with sane values); ``lie`` = (member, size)
    makes the zip claim that size for the member (``"MASK"``: the mask layer's array)."""

    label: str
    change: Change
    words: tuple[str, ...] = ("damaged",)
    lie: tuple[str, int] | None = None

    @property
    def id(self) -> str:
        return self.label.replace(" ", "-")


def _set(target: Callable[[dict[str, Any]], dict[str, Any]], key: str, value: object) -> Change:
    def change(m: dict[str, Any], members: Members) -> None:
        target(m)[key] = value

    return change


def _mask(m: dict[str, Any]) -> dict[str, Any]:
    return layer(m, "mask")


def _top(m: dict[str, Any]) -> dict[str, Any]:
    return m


def _dup_layers(count: int) -> Change:
    def change(m: dict[str, Any], members: Members) -> None:
        m["layers"] += [dict(layer(m, "mask"), name=f"copy {i}") for i in range(count)]

    return change


def _member(shape: tuple[int, ...]) -> Change:
    def change(m: dict[str, Any], members: Members) -> None:
        members[layer(m, "mask")["file"]] = npy(shape)

    return change


def _deep(m: dict[str, Any], members: Members) -> None:
    m["params"] = "DEEP"


PROJECT_CASES: list[ProjectCase] = [
    ProjectCase("layer file ../../etc/passwd", _set(_mask, "file", "../../etc/passwd")),
    ProjectCase("layer file /etc/passwd", _set(_mask, "file", "/etc/passwd")),
    ProjectCase("two layers share a file", _dup_layers(1)),
    ProjectCase("2000 layers", _dup_layers(2000)),
    ProjectCase("array claiming 18000x18000x3", _member((18000, 18000, 3)), ("too large",),
                lie=("MASK", 0xFFFFFFF0)),
    ProjectCase("array header larger than its data", _member((1000, 1000, 3))),
    ProjectCase("layer of NaN", nan_layer, ("not finite",)),
    ProjectCase("opacity NaN", _set(_mask, "opacity", float("nan")), ()),
    ProjectCase("opacity 'half'", _set(_mask, "opacity", "half")),
    ProjectCase("layer kind 'evil'", _set(_mask, "kind", "evil")),
    ProjectCase("layers not objects", _set(_top, "layers", ["a", "b"])),
    ProjectCase("meta fields a list", _set(_top, "meta", {"__dataclass__": "ImageMeta",
                                                          "fields": [1, 2]})),
    ProjectCase("meta a plain object", _set(_top, "meta", {"format": "PNG"})),
    ProjectCase("bit depth 'x'", _set(meta_fields, "bit_depth", "x")),
    ProjectCase("dpi NaN", _set(meta_fields, "dpi", {"__tuple__": [float("nan"), 1.0]})),
    ProjectCase("ICC profile a number", _set(meta_fields, "icc_profile", 5)),
    ProjectCase("EXIF not base64", _set(meta_fields, "exif", {"__bytes__": "!!!"}), ()),
    ProjectCase("recipe a string", _set(_top, "recipe", "abc")),
    ProjectCase("params a string", _set(_top, "params", "abc")),
    ProjectCase("version 'one'", _set(_top, "version", "one"), ("version",)),
    ProjectCase("version 99", _set(_top, "version", 99), ("newer",)),
    ProjectCase("manifest nested 100000 deep", _deep, ("manifest",)),
    ProjectCase("manifest claiming 1 GB", _set(_top, "title", "x"), ("large",),
                lie=(MANIFEST, 2**30)),
]  # fmt: skip


def build(case: ProjectCase, folder: Path) -> Path:
    manifest, members = base_project(folder)
    case.change(manifest, members)
    text = json.dumps(manifest)
    if '"DEEP"' in text:
        text = text.replace('"DEEP"', "[" * 100_000 + "]" * 100_000)
    path = write(folder / "hostile.patina", text, members)
    if case.lie is not None:
        member, size = case.lie
        lie_about_size(path, layer(manifest, "mask")["file"] if member == "MASK" else member, size)
    return path


def run_project(case: ProjectCase, folder: Path) -> tuple[str, str | None]:
    """(what happened, the problem or None) for ``load_project`` on the case's file."""
    path = build(case, folder)
    try:
        doc = load_project(path)
    except ImageIOError as err:
        message = str(err)
        if "\n" in message or path.name not in message:
            return message, "the message is not one line naming the file"
        missing = [w for w in case.words if w not in message]
        return f"error: {message}", (f"message lacks {missing}" if missing else None)
    except Exception as err:  # noqa: BLE001 - the very thing this corpus looks for
        return f"{type(err).__name__}: {err}"[:200], "not an ImageIOError"
    opacities = [layer.opacity for layer in doc.layers]
    if not all(0.0 <= o <= 1.0 for o in opacities):
        return f"opened, opacities {opacities}", "an opacity out of [0, 1]"
    if case.words:
        return "opened", f"expected an error with {case.words}"
    return f"opened ({len(doc.layers)} layers, opacities in [0, 1])", None
