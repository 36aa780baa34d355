"""Device choice and safetensors weight loading."""

from pathlib import Path

import pytest
import torch

from app.core.errors import InvalidInputError
from app.ml.archs.vdir import VDIR
from app.ml.loading import load_weights, pick_device
from app.training.export.vdir import save_weights
from tests.ml.test_vdir import TINY


def test_pick_device_cpu_and_auto() -> None:
    assert pick_device("cpu") == ("cpu", torch.float32)
    device, dtype = pick_device("auto")
    assert device in ("cpu", "cuda", "mps")
    assert (dtype == torch.float16) == (device == "cuda")


def test_pick_device_rejects_unknown() -> None:
    with pytest.raises(InvalidInputError, match="unknown device"):
        pick_device("tpu")


def test_save_load_round_trip_gives_identical_outputs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = VDIR(TINY).eval()
    path = tmp_path / "m.safetensors"
    save_weights(model, path, {"note": "x"})
    state, meta = load_weights(path)
    assert meta["arch"] == TINY.to_dict() and meta["note"] == "x"
    again = VDIR(TINY).eval()
    again.load_state_dict(state)
    y = torch.rand(1, 3, 12, 20)
    with torch.no_grad():
        assert torch.equal(model(y, sample=False).restored, again(y, sample=False).restored)


def test_load_weights_errors_are_readable(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="not found"):
        load_weights(tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a model")
    with pytest.raises(InvalidInputError, match="safetensors"):
        load_weights(bad)
