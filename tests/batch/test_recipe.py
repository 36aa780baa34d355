"""Recipes: JSON round trip, validation messages, output names, identity."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

import pytest

from app.batch.recipe import Recipe
from app.core.errors import InvalidInputError


def test_json_round_trip(tmp_path: Path) -> None:
    recipe = Recipe("denoise", "vdir-s", {"latent_strength": 1.5, "seed": 3}, tile=256,
                    output_format="tiff", bit_depth=16)  # fmt: skip
    path = recipe.save(tmp_path / "r.json")
    assert json.loads(path.read_text())["format"] == "patina-batch-recipe"
    assert Recipe.load(path) == recipe


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"method": "x"}, "no task"),
        ({"task": "denoise", "colour": 1}, "unknown recipe field"),
        ({"task": "denoise", "output_format": "gif"}, "output format"),
        ({"task": "denoise", "bit_depth": 12}, "bit depth"),
        ({"task": "denoise", "tile": 8}, "tile size"),
        ({"task": "denoise", "pattern": "{stem}/x{ext}"}, "plain"),
        ({"task": "denoise", "pattern": "same{ext}"}, "{stem}"),
        ({"task": "denoise", "pattern": "{stem}{size}"}, "bad name pattern"),
        ({"task": "denoise", "version": 9}, "not supported"),
        ({"format": "patina-recipe", "task": "denoise", "latent": {"strength": 2}}, "latent"),
    ],
)
def test_bad_recipes_are_explained(data: dict, words: str) -> None:
    with pytest.raises(InvalidInputError, match=words.replace("{", r"\{").replace("}", r"\}")):
        Recipe.from_dict(data)


def test_load_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "r.json"
    bad.write_text("{not json")
    with pytest.raises(InvalidInputError, match="r.json is not valid JSON"):
        Recipe.load(bad)


def test_output_names() -> None:
    src = PurePosixPath("a/scan.TIF")
    assert Recipe("denoise").output_name(src) == "scan_restored.TIF"
    assert Recipe("denoise", output_format="jpeg").output_name(src) == "scan_restored.jpg"
    named = Recipe("deblock", "m", pattern="{task}-{method}-{name}{ext}", output_format="png")
    assert named.output_name(src) == "deblock-m-scan.TIF.png"


def test_sixteen_bits_only_where_the_format_stores_them() -> None:
    recipe = Recipe("denoise", bit_depth=16)
    assert recipe.output_bit_depth(".tif") == 16 and recipe.output_bit_depth(".jpg") is None


def test_identity_ignores_run_settings() -> None:
    base = Recipe("denoise", "m", {"sigma": 10})
    assert base.same_outputs_as(base.with_changes(tile=128, device="cuda"))
    assert not base.same_outputs_as(base.with_changes(params={"sigma": 11}))
    assert not base.same_outputs_as(base.with_changes(output_format="png"))


def test_reads_an_export_sidecar() -> None:
    sidecar = {"format": "patina-recipe", "version": 1, "task": "denoise", "method": "vdir",
               "params": {"seed": 1}, "latent": None, "strength_map": None, "tile": 256,
               "input": "a.png", "output": "b.png", "history": []}  # fmt: skip
    assert Recipe.from_dict(sidecar) == Recipe("denoise", "vdir", {"seed": 1}, tile=256)
