"""``.patina`` projects: a Document saved as a zip, plus autosave and crash recovery.

Layout of the zip (format version :data:`FORMAT_VERSION`):

- ``manifest.json``: ``format`` ("patina-project"), ``version``, ``saved_at``, ``title``,
  ``source`` (the image path or null), ``project_path``, ``autosave`` (bool), ``meta``
  (the image metadata, bytes as base64, arrays as ``.npy`` members), ``layers`` (bottom
  -> top: ``file``, ``name``, ``kind``, ``visible``, ``opacity``, ``locked``, ``meta``),
  ``recipe``, ``params``, ``ground_truth`` (whether a ground-truth layer is present).
- ``layers/NNN.npy``: each layer's float32 array (``np.save``, ``allow_pickle=False``).

Writes are atomic (a temporary file in the same folder, then ``os.replace``), so a crash
while saving leaves the previous file intact. Reading never unpickles anything. Undo
history is not saved; the recipe is.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import sys
import zipfile
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import IO, Any

import numpy as np

from app.core.atomic import atomic_write
from app.core.document import Document
from app.core.errors import ImageIOError, InvalidInputError
from app.core.layers import Layer, LayerKind, LayerList, check_layer_data

FORMAT = "patina-project"
FORMAT_VERSION = 1
SUFFIX = ".patina"
MANIFEST = "manifest.json"
AUTOSAVE_ENV = "PATINA_AUTOSAVE_DIR"
"""Environment variable overriding :func:`autosave_dir` (tests, portable installs)."""

_COMPRESSED_KINDS = {LayerKind.MASK, LayerKind.PROBABILITY, LayerKind.STRENGTH}
MAX_LAYERS = 1000
MAX_MANIFEST_BYTES = 64 * 2**20
MAX_ARRAY_VALUES = 4 * 200_000_000  # an RGB layer of image_read.MAX_PIXELS, with room to spare
_DAMAGED = (KeyError, TypeError, ValueError, AttributeError, RecursionError, InvalidInputError)


# -- saving ------------------------------------------------------------------------------


def save_project(
    doc: Document, path: Path | str, *, autosave: bool = False, mark_clean: bool | None = None
) -> Path:
    """Write ``doc`` to ``path`` (``.patina`` is appended if missing); returns the path.

    Atomic: the old file stays intact until the new one is complete. Unless ``autosave``
    (a recovery copy), the document then records ``project_path = path`` and marks its
    history clean (``mark_clean`` overrides that). Raises ImageIOError when the file
    cannot be written.
    """
    path = Path(path)
    if path.suffix.lower() != SUFFIX:
        path = path.with_name(path.name + SUFFIX)
    arrays: dict[str, np.ndarray] = {}
    manifest = _manifest(doc, arrays, autosave, path)
    _write_atomic(path, manifest, arrays, doc)
    if not autosave:
        doc.project_path = path
    if mark_clean if mark_clean is not None else not autosave:
        doc.history.mark_clean()
    return path


def _manifest(doc: Document, arrays: dict[str, np.ndarray], autosave: bool, path: Path) -> dict:
    layers = []
    for i, layer in enumerate(doc.layers):
        name = f"layers/{i:03d}.npy"
        layers.append(
            {
                "file": name,
                "name": layer.name,
                "kind": layer.kind.value,
                "visible": layer.visible,
                "opacity": layer.opacity,
                "locked": layer.locked,
                "meta": layer.meta,
            }
        )
    project_path = path if not autosave else doc.project_path
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "title": doc.title,
        "source": None if doc.source is None else str(doc.source),
        "project_path": None if project_path is None else str(project_path),
        "autosave": autosave,
        "meta": _encode(doc.meta, arrays, "meta"),
        "layers": layers,
        "recipe": doc.recipe,
        "params": doc.params,
        "ground_truth": doc.ground_truth is not None,
    }


def _write_atomic(path: Path, manifest: dict, arrays: dict[str, np.ndarray], doc: Document) -> None:
    def write(handle: IO[bytes]) -> None:
        with zipfile.ZipFile(handle, "w", allowZip64=True) as zf:
            text = json.dumps(manifest, indent=1, default=_json_default)
            zf.writestr(MANIFEST, text, compress_type=zipfile.ZIP_DEFLATED)
            for entry, layer in zip(manifest["layers"], doc.layers):
                deflate = layer.kind in _COMPRESSED_KINDS
                _write_npy(zf, entry["file"], layer.data, deflate)
            for name, array in arrays.items():
                _write_npy(zf, name, array, True)

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ImageIOError(f"could not save the project to {path}: {err.strerror}") from err
    atomic_write(path, write, overwrite=True)


def _write_npy(zf: zipfile.ZipFile, name: str, array: np.ndarray, deflate: bool) -> None:
    info = zipfile.ZipInfo(name, date_time=datetime.now().timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    with zf.open(info, "w", force_zip64=True) as handle:
        np.save(handle, np.ascontiguousarray(array), allow_pickle=False)


def _json_default(value: Any) -> Any:
    """JSON fallback for recipe/params/meta values: numpy scalars, arrays, paths, enums."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (Path, datetime)):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} values cannot be saved in a project")


def _encode(value: Any, arrays: dict[str, np.ndarray], where: str) -> Any:
    """JSON-able form of image metadata: bytes -> base64, arrays -> .npy members."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray)):
        return {"__bytes__": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, np.ndarray):
        name = f"{where}.npy"
        arrays[name] = value
        return {"__npy__": name}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Enum):
        return {"__enum__": value.value}
    if isinstance(value, Path):
        return {"__path__": str(value)}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, arrays, f"{where}.{i}") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, arrays, f"{where}.{i}") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {
            "__dict__": [
                [_encode(k, arrays, f"{where}.k{i}"), _encode(v, arrays, f"{where}.{i}")]
                for i, (k, v) in enumerate(value.items())
            ]
        }
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {
            f.name: _encode(getattr(value, f.name), arrays, f"{where}/{f.name}")
            for f in dataclasses.fields(value)
        }
        return {"__dataclass__": type(value).__name__, "fields": fields}
    raise ImageIOError(f"cannot save image metadata of type {type(value).__name__}")


# -- loading -----------------------------------------------------------------------------


def read_manifest(path: Path | str) -> dict[str, Any]:
    """The manifest of a project without loading its layers (for a recovery dialog).

    Raises ImageIOError when the file is not a readable project of a supported version.
    """
    path = Path(path)
    with _open_zip(path) as zf:
        return _read_manifest(zf, path)


def load_project(path: Path | str) -> Document:
    """Open a ``.patina`` project as a Document (clean, empty history).

    Raises ImageIOError with a readable message when the file is missing, not a
    project, corrupt (bad zip, missing or malformed member, wrong array shape), or
    written by a newer Patina.
    """
    path = Path(path)
    with _open_zip(path) as zf:
        manifest = _read_manifest(zf, path)
        try:
            _check_layer_files(manifest["layers"])
            layers = [_read_layer(zf, entry) for entry in manifest["layers"]]
            meta = _image_meta(_decode_meta(zf, manifest.get("meta")))
            doc = Document(
                LayerList(layers),
                meta=meta,
                source=manifest.get("source"),
                recipe=_recipe_entries(manifest.get("recipe")),
                params=dict(manifest.get("params") or {}),
            )
        except (*_DAMAGED, zipfile.BadZipFile) as err:
            reason = " ".join(str(err).split())[:300] or type(err).__name__
            raise ImageIOError(f"{path.name} is damaged and cannot be opened ({reason})") from err
    _check_sizes(doc, path)
    if not manifest.get("autosave"):
        doc.project_path = path
    elif manifest.get("project_path"):
        doc.project_path = Path(manifest["project_path"])
    return doc


def _open_zip(path: Path) -> zipfile.ZipFile:
    if not path.is_file():
        raise ImageIOError(f"the project {path} does not exist")
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise ImageIOError(
            f"{path.name} is not a Patina project (not a readable zip file)"
        ) from err


def _read_manifest(zf: zipfile.ZipFile, path: Path) -> dict[str, Any]:
    try:
        if zf.getinfo(MANIFEST).file_size > MAX_MANIFEST_BYTES:
            raise ImageIOError(f"{path.name} is damaged: its manifest is absurdly large")
        manifest = json.loads(zf.read(MANIFEST).decode("utf-8"))
    except KeyError as err:
        raise ImageIOError(f"{path.name} is not a Patina project (no manifest)") from err
    except (ValueError, RecursionError, zipfile.BadZipFile, OSError) as err:
        raise ImageIOError(f"{path.name} is damaged: its manifest cannot be read") from err
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ImageIOError(f"{path.name} is not a Patina project")
    version = manifest.get("version")
    if not isinstance(version, int) or version < 1:
        raise ImageIOError(f"{path.name} is damaged: it has no valid format version")
    if version > FORMAT_VERSION:
        raise ImageIOError(
            f"{path.name} was saved by a newer version of Patina (project format {version}); "
            f"this version reads format {FORMAT_VERSION} or older. Please update Patina."
        )
    if not isinstance(manifest.get("layers"), list):
        raise ImageIOError(f"{path.name} is damaged: its manifest lists no layers")
    return manifest


def _check_layer_files(entries: list[Any]) -> None:
    """ValueError for more than :data:`MAX_LAYERS` layers or two layers sharing a file
    (Patina never writes either; a hostile file could make one array load many times)."""
    if len(entries) > MAX_LAYERS:
        raise ValueError(f"{len(entries)} layers, more than {MAX_LAYERS}")
    files = [str(entry["file"]) for entry in entries]
    if len(set(files)) != len(files):
        raise ValueError("two layers share one array file")


def _recipe_entries(value: Any) -> list[dict[str, Any]]:
    """The document recipe: a list of objects (TypeError for anything else)."""
    entries = list(value or [])
    if not all(isinstance(entry, dict) for entry in entries):
        raise TypeError("its recipe is not a list of objects")
    return entries


def _read_layer(zf: zipfile.ZipFile, entry: dict[str, Any]) -> Layer:
    kind = LayerKind(entry["kind"])
    data = _read_npy(zf, str(entry["file"]))
    if data.dtype.kind not in "biuf" or not np.isfinite(data).all():
        raise ValueError(f"layer {entry['name']!r} holds values that are not finite numbers")
    return Layer(
        str(entry["name"]),
        kind,
        check_layer_data(kind, data),
        visible=bool(entry.get("visible", True)),
        opacity=float(entry.get("opacity", 1.0)),
        locked=bool(entry.get("locked", False)),
        meta=dict(entry.get("meta") or {}),
    )


def _read_npy(zf: zipfile.ZipFile, name: str) -> np.ndarray:
    """Load one ``.npy`` member; checks the header against the member size before allocating."""
    info = zf.getinfo(name)
    with zf.open(info) as handle:
        shape, dtype = _npy_header(handle)
        values = int(np.prod(shape, dtype=np.int64)) if all(n >= 0 for n in shape) else -1
        if values > MAX_ARRAY_VALUES:
            raise ValueError(f"{name} claims an array of {shape}, too large to load")
        if dtype.hasobject or values < 0 or values * dtype.itemsize > info.file_size:
            raise ValueError(f"{name} has an invalid array header")
    with zf.open(info) as handle:
        return np.asarray(np.load(handle, allow_pickle=False))


def _npy_header(handle: IO[bytes]) -> tuple[tuple[int, ...], np.dtype]:
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
    else:
        shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
    return tuple(shape), np.dtype(dtype)


def _decode_meta(zf: zipfile.ZipFile, value: Any) -> Any:
    """Inverse of :func:`_encode`; a dataclass becomes ``image_meta.ImageMeta``."""
    if isinstance(value, list):
        return [_decode_meta(zf, v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__bytes__" in value:
        return base64.b64decode(value["__bytes__"])
    if "__npy__" in value:
        return _read_npy(zf, str(value["__npy__"]))
    if "__enum__" in value:
        return value["__enum__"]
    if "__path__" in value:
        return Path(value["__path__"])
    if "__tuple__" in value:
        return tuple(_decode_meta(zf, v) for v in value["__tuple__"])
    if "__dict__" in value:
        return {_decode_meta(zf, k): _decode_meta(zf, v) for k, v in value["__dict__"]}
    if "__dataclass__" in value:
        return _build_meta({k: _decode_meta(zf, v) for k, v in value["fields"].items()})
    return {k: _decode_meta(zf, v) for k, v in value.items()}


def _build_meta(fields: dict[str, Any]) -> Any:
    """An ``ImageMeta`` from saved fields; fields unknown to this version are dropped."""
    from app.core.image_meta import ImageMeta

    known = {f.name for f in dataclasses.fields(ImageMeta)}
    meta = ImageMeta(**{k: v for k, v in fields.items() if k in known})
    _check_meta(meta)
    return meta


def _image_meta(value: Any) -> Any:
    """``value`` if it is None or an ``ImageMeta`` (TypeError otherwise)."""
    from app.core.image_meta import ImageMeta

    if value is not None and not isinstance(value, ImageMeta):
        raise TypeError("its image metadata is not valid")
    return value


def _check_meta(meta: Any) -> None:
    """TypeError/ValueError unless the saved image metadata has the types export relies on."""
    if not (isinstance(meta.format, str) and isinstance(meta.mode, str)):
        raise TypeError("its image format or mode is not text")
    if meta.bit_depth not in (8, 16) or isinstance(meta.bit_depth, bool):
        raise ValueError(f"its image bit depth is {meta.bit_depth!r}")
    for name in ("icc_profile", "exif"):
        if not isinstance(getattr(meta, name), bytes | type(None)):
            raise TypeError(f"its image {name} is not bytes")
    alpha = meta.alpha
    if alpha is not None and not (isinstance(alpha, np.ndarray) and alpha.ndim == 2):
        raise ValueError("its alpha channel is not a (H, W) array")
    dpi = meta.dpi
    if dpi is not None:
        ok = isinstance(dpi, tuple | list) and len(dpi) == 2
        if not ok or not all(isinstance(v, int | float) and 0 < v < 1e6 for v in dpi):
            raise ValueError(f"its dpi is {dpi!r}")


def _check_sizes(doc: Document, path: Path) -> None:
    for kind in (LayerKind.MASK, LayerKind.GROUND_TRUTH, LayerKind.DIFFERENCE):
        for layer in doc.layers.all(kind):
            if layer.shape != doc.size:
                raise ImageIOError(
                    f"{path.name} is damaged: its {layer.name} layer does not match the image size"
                )


# -- autosave and recovery ---------------------------------------------------------------


def autosave_dir() -> Path:
    """Folder for autosaved recovery copies ($PATINA_AUTOSAVE_DIR overrides).

    Linux: ``$XDG_STATE_HOME/patina/autosave`` (``~/.local/state/...``); macOS:
    ``~/Library/Application Support/Patina/autosave``; Windows:
    ``%LOCALAPPDATA%/Patina/autosave``. Not created until the first autosave.
    """
    override = os.environ.get(AUTOSAVE_ENV)
    if override:
        return Path(override)
    home = Path.home()
    if sys.platform == "win32":
        return (
            Path(os.environ.get("LOCALAPPDATA", home / "AppData" / "Local")) / "Patina" / "autosave"
        )
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "Patina" / "autosave"
    state = os.environ.get("XDG_STATE_HOME") or str(home / ".local" / "state")
    return Path(state) / "patina" / "autosave"


def autosave_path(doc: Document, dir: Path | str | None = None) -> Path:
    """Where :func:`autosave` writes ``doc``: ``<dir>/<title stem>-<doc.uid>.patina``."""
    folder = Path(dir) if dir is not None else autosave_dir()
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(doc.title).stem)[:40]
    return folder / f"{stem or 'untitled'}-{doc.uid}{SUFFIX}"


def autosave(doc: Document, dir: Path | str | None = None) -> Path:
    """Save a recovery copy of ``doc`` (history stays dirty, ``project_path`` unchanged).

    Call it from a timer every few minutes when ``doc.modified``; call
    :func:`discard_autosave` after a normal save or close. Raises ImageIOError.
    """
    return save_project(doc, autosave_path(doc, dir), autosave=True)


def discard_autosave(doc: Document, dir: Path | str | None = None) -> None:
    """Delete ``doc``'s recovery copy, if any."""
    autosave_path(doc, dir).unlink(missing_ok=True)


def find_recoverable(dir: Path | str | None = None) -> list[Path]:
    """Autosaved projects left behind (e.g. by a crash), newest first.

    Only files whose manifest reads as a supported project are listed; open one with
    :func:`load_project` (its ``project_path`` is the project it was a copy of, if any),
    then delete it with ``Path.unlink`` once recovered or declined.
    """
    folder = Path(dir) if dir is not None else autosave_dir()
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob(f"*{SUFFIX}"):
        try:
            read_manifest(path)
        except ImageIOError:
            continue
        found.append(path)
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)
