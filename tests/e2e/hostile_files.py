"""Hostile model and recipe files for ``patina restore`` / ``patina batch`` (see
:mod:`tests.e2e.bad_files_corpus` for the runner and its promises).

Model files: truncated safetensors, headers claiming huge tensors, a pickle (that would
create a file if anything unpickled it) and a torch.save zip renamed ``.safetensors``,
weights that do not match their architecture, and manifest entries naming files outside
the models folder. Recipes: export sidecars (``restore --recipe``) and batch recipes
(``batch --recipe``) with path traversal, absurd sizes, NaN and wrong types.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.bad_files_corpus import (
    JOURNAL,
    Run,
    call,
    check_input,
    expect_files,
    failed_line,
    one_line,
    rgb_png,
    snapshot,
)

# ------------------------------------------------------------------------ model files


MARKER = "unpickled.txt"
"""The file the hostile pickle creates if anything ever unpickles it (beside the models)."""


class _Evil:
    """Unpickling this calls ``open(path, "w")``: proof that code ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return open, (self.path, "w")


def safetensors_bytes(tensors: dict | None = None, arch: object = None) -> bytes:
    """A safetensors file (default: one small tensor) with ``arch`` JSON metadata."""
    import torch
    from safetensors.torch import save

    tensors = tensors if tensors is not None else {"w": torch.zeros(32, 32)}
    meta = {"arch": json.dumps(arch if arch is not None else {})}
    return bytes(save(tensors, metadata=meta))


def tiny_vdir_bytes(arch: dict | None = None) -> bytes:
    """A real (tiny, random) VDIR's weights; ``arch`` overrides its metadata."""
    from tests.ml.tiny_vdir import TINY, tiny_model

    state = {k: v.contiguous() for k, v in tiny_model().state_dict().items()}
    return safetensors_bytes(state, arch if arch is not None else TINY.to_dict())


def _huge_header() -> bytes:
    header = {"w": {"dtype": "F32", "shape": [100_000, 100_000, 100],
                    "data_offsets": [0, 4 * 10**12]}}  # fmt: skip
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + b"\0" * 64


def _pickle(folder: Path) -> bytes:
    return pickle.dumps({"w": _Evil(str(folder / MARKER))})


def _torch_zip() -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save({"w": torch.zeros(2)}, buf)
    return buf.getvalue()


@dataclass(frozen=True)
class ModelCase:
    """A models folder whose manifest lists model ``bad`` (task denoise, arch vdir) with
    ``file``; ``data(folder)`` gives the weights' bytes (written at ``file`` unless it
    leaves the folder; ``outside`` writes them one level up instead)."""

    label: str
    data: Callable[[Path], bytes]
    words: tuple[str, ...]
    file: str = "bad.safetensors"
    outside: bool = False

    @property
    def id(self) -> str:
        return self.label.replace(" ", "-")

    def install(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        # a fresh id per case: VDIR services cache loaded models by (id, device)
        entry = {"id": f"bad-{self.id}", "task": "denoise", "method": "bad", "arch": "vdir",
                 "file": self.file, "title": "Hostile model"}  # fmt: skip
        (folder / "manifest.json").write_text(json.dumps({"models": [entry]}))
        target = folder.parent / Path(self.file).name if self.outside else folder / self.file
        target.write_bytes(self.data(folder))


MODEL_CASES: list[ModelCase] = [
    ModelCase("safetensors cut in half",
              lambda f: (d := tiny_vdir_bytes())[: len(d) // 2], ("not a readable",)),
    ModelCase("safetensors cut at 8 bytes", lambda f: tiny_vdir_bytes()[:8], ("not a readable",)),
    ModelCase("header claiming a 4 TB tensor", lambda f: _huge_header(), ("not a readable",)),
    ModelCase("header length claiming 1 TiB",
              lambda f: struct.pack("<Q", 2**40) + b"{}", ("not a readable",)),
    ModelCase("pickle renamed .safetensors", _pickle, ("not a readable",)),
    ModelCase("torch.save zip renamed .safetensors", lambda f: _torch_zip(), ("not a readable",)),
    ModelCase("tensors not matching the arch", lambda f: safetensors_bytes(arch={}),
              ("does not match",)),
    ModelCase("arch claiming huge widths",
              lambda f: tiny_vdir_bytes({"widths": [10**6, 10**6, 10**6]}), ("does not match",)),
    ModelCase("arch with wrong types", lambda f: tiny_vdir_bytes({"widths": "wide"}),
              ("unusable architecture",)),
    ModelCase("manifest file ../outside.safetensors", lambda f: tiny_vdir_bytes(),
              ("unknown method",), file="../outside.safetensors", outside=True),
    ModelCase("manifest file /etc/passwd", lambda f: tiny_vdir_bytes(), ("unknown method",),
              file="/etc/passwd", outside=True),
]  # fmt: skip


@contextlib.contextmanager
def models_dir(folder: Path) -> Iterator[None]:
    """``PATINA_MODELS_DIR`` set to ``folder`` while the block runs."""
    old = os.environ.get("PATINA_MODELS_DIR")
    os.environ["PATINA_MODELS_DIR"] = str(folder)
    try:
        yield
    finally:
        if old is None:
            del os.environ["PATINA_MODELS_DIR"]
        else:
            os.environ["PATINA_MODELS_DIR"] = old


def run_model(case: ModelCase, root: Path, command: str) -> Run:
    """``patina restore``/``batch`` with ``--method bad`` from the hostile models folder.

    Warnings before the final ``patina: error:`` line are allowed (a skipped manifest
    entry is logged); the input is a small valid PNG.
    """
    folder = root / "models"
    case.install(folder)
    src = root / "in" / "photo.png"
    src.parent.mkdir()
    src.write_bytes(rgb_png())
    out = root / "out"
    out.mkdir()
    argv = ["restore", str(src), "-o", str(out / "out.png")]
    if command == "batch":
        argv = ["batch", str(src.parent), str(out)]
    before = snapshot(root / "in")
    with models_dir(folder):
        code, stdout, stderr = call([*argv, "--task", "denoise", "--method", "bad"])
    run = Run(code, stdout, stderr)
    check_input(run, before, snapshot(root / "in"))
    if (folder / MARKER).exists():
        run.problems.append("the pickle was unpickled: code ran")
    left = {k for k in snapshot(out) if not k.startswith(JOURNAL)}
    if left:
        run.problems.append(f"left in the output folder: {sorted(left)}")
    if command == "batch" and code == 3:
        failed_line(run, stderr, src.name)
        return run
    lines = stderr.strip().splitlines()
    if "Traceback" in stderr or not lines or not lines[-1].startswith("patina: error: "):
        run.problems.append(f"no final 'patina: error:' line: {stderr.strip()[:300]!r}")
    if code != 2:
        run.problems.append(f"exit code {code}")
    last = lines[-1].removeprefix("patina: error: ") if lines else ""
    run.message = f"exit {code}: {last}" + (" (after a logged warning)" if len(lines) > 1 else "")
    return run


# ------------------------------------------------------------------------ recipe files


@dataclass(frozen=True)
class RecipeCase:
    """A hostile recipe: ``kind`` ``sidecar`` (``patina restore --recipe``, an export's
    ``.recipe.json``) or ``batch`` (``patina batch --recipe``); ``text`` is the file."""

    label: str
    kind: str
    text: str
    words: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.kind}-{self.label}".replace(" ", "-")


def _sidecar(**fields: object) -> str:
    data = {"format": "patina-recipe", "version": 1, "task": "denoise", "method": "bilateral",
            "params": {"sigma": 10}, "latent": None, "strength_map": None, "tile": 512}  # fmt: skip
    return json.dumps({**data, **fields})


def _batch_recipe(**fields: object) -> str:
    data = {"format": "patina-batch-recipe", "version": 1, "task": "denoise",
            "method": "bilateral", "params": {"sigma": 10}}  # fmt: skip
    return json.dumps({**data, **fields})


_DEEP = "[" * 100_000 + "]" * 100_000
RECIPE_CASES: list[RecipeCase] = [
    RecipeCase("strength map ../../etc/passwd", "sidecar",
               _sidecar(strength_map="../../etc/passwd"), ("own folder",)),
    RecipeCase("strength map /etc/passwd", "sidecar", _sidecar(strength_map="/etc/passwd"),
               ("own folder",)),
    RecipeCase("version 'two'", "sidecar", _sidecar(version="two"), ("version",)),
    RecipeCase("tile NaN", "sidecar", _sidecar(tile=float("nan")), ("tile",)),
    RecipeCase("tile 1e400", "sidecar", _sidecar(tile=1e400), ("tile",)),
    RecipeCase("tile 'big'", "sidecar", _sidecar(tile="big"), ("tile",)),
    RecipeCase("sigma NaN", "sidecar", _sidecar(params={"sigma": float("nan")}), ("sigma",)),
    RecipeCase("sigma 1e308", "sidecar", _sidecar(params={"sigma": 1e308}), ("sigma",)),
    RecipeCase("params a list", "sidecar", _sidecar(params=[1, 2]), ("params",)),
    RecipeCase("latent a string", "sidecar", _sidecar(latent="strong"), ("latent",)),
    RecipeCase("latent gains 'x'", "sidecar", _sidecar(latent={"gains": "xxxx"}),
               ("bad value",)),
    RecipeCase("nested 100000 deep", "sidecar", _DEEP, ("not readable JSON",)),
    RecipeCase("pattern ../{stem}", "batch", _batch_recipe(pattern="../{stem}"), ("pattern",)),
    RecipeCase("pattern {stem:>999999999}", "batch",
               _batch_recipe(pattern="{stem:>999999999}"), ("pattern",)),
    RecipeCase("pattern {stem.__class__}", "batch",
               _batch_recipe(pattern="{stem.__class__}"), ("pattern",)),
    RecipeCase("pattern with NUL", "batch", _batch_recipe(pattern="{stem}\x00.png"),
               ("pattern",)),
    RecipeCase("tile NaN", "batch", _batch_recipe(tile=float("nan")), ("tile",)),
    RecipeCase("tile 'big'", "batch", _batch_recipe(tile="big"), ("tile",)),
    RecipeCase("tile true", "batch", _batch_recipe(tile=True), ("tile",)),
    RecipeCase("jpeg_quality 'high'", "batch", _batch_recipe(jpeg_quality="high"),
               ("jpeg_quality",)),
    RecipeCase("sigma NaN", "batch", _batch_recipe(params={"sigma": float("nan")}), ("sigma",)),
    RecipeCase("task 42", "batch", _batch_recipe(task=42), ("task",)),
    RecipeCase("a JSON list", "batch", "[1, 2, 3]", ("object",)),
    RecipeCase("nested 100000 deep", "batch", _DEEP, ("not valid JSON",)),
]  # fmt: skip


def run_recipe(case: RecipeCase, root: Path) -> Run:
    """``patina restore --recipe`` (sidecar) or ``patina batch --recipe`` with ``case``."""
    src = root / "in" / "photo.png"
    src.parent.mkdir(parents=True)
    src.write_bytes(rgb_png())
    recipe = root / "hostile.recipe.json"
    recipe.write_text(case.text, encoding="utf-8")
    out = root / "out"
    out.mkdir()
    if case.kind == "sidecar":
        argv = ["restore", str(src), "-o", str(out / "out.png"), "--task", "denoise"]
    else:
        argv = ["batch", str(src.parent), str(out)]
    before = snapshot(root / "in")
    code, stdout, stderr = call([*argv, "--recipe", str(recipe)])
    run = Run(code, stdout, stderr)
    check_input(run, before, snapshot(root / "in"))
    expect_files(run, snapshot(out), set())
    one_line(run, code, stderr)
    return run
