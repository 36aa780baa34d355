"""Inpainting network and service on tiny random weights: shapes, exact known pixels."""

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from app.core.errors import InvalidInputError
from app.core.progress import drive
from app.ml.archs.inpaint import InpaintConfig, InpaintNet, build
from app.ml.services import inpaint as svc

TINY = InpaintConfig(widths=(4, 4, 8, 8), dilations=(2,), z_channels=4)


@dataclass(frozen=True)
class Entry:
    id: str = "tiny-inpaint"
    task: str = "inpaint"
    file: str = ""
    title: str = "Tiny inpaint"


class TinyInpaint(svc.InpaintService):
    def __init__(self) -> None:
        super().__init__(Entry(), device="cpu")
        torch.manual_seed(0)
        self._model = build(TINY).eval().requires_grad_(False)
        torch.nn.init.normal_(self._model.h.conv.weight, std=0.1)

    @property
    def model(self) -> InpaintNet:
        return self._model


@pytest.mark.parametrize("size", [(16, 16), (21, 37)])
def test_network_any_size(size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    net = build(TINY)
    y = torch.rand(1, 3, *size)
    m = torch.zeros(1, 1, *size)
    assert net(y, m).shape == y.shape


def test_config_round_trip() -> None:
    assert InpaintConfig.from_dict(TINY.to_dict()) == TINY


def test_dilated_head_reaches_one_plus_the_sum_of_its_dilations() -> None:
    cfg = InpaintConfig(**{**TINY.to_dict(), "h_layers": 3, "h_dilations": (2, 4)})
    torch.manual_seed(0)
    head = build(cfg).h
    z = torch.zeros(1, cfg.z_channels, 41, 41, requires_grad=True)
    head(z)[0, :, 20, 20].sum().backward()
    assert z.grad is not None
    cols = (z.grad[0].abs().sum(0) > 0).any(0).nonzero().flatten()
    # 3x3 convs: 1 px for the output conv, d px for each hidden conv
    assert (int(cols.min()), int(cols.max())) == (20 - 7, 20 + 7)


def test_h_dilations_need_one_entry_per_hidden_layer() -> None:
    with pytest.raises(ValueError, match="h_dilations"):
        InpaintConfig(h_layers=2, h_dilations=(2, 4))


@pytest.mark.parametrize(("prefill", "method"), [(True, "pushpull"), (False, "none")])
def test_boolean_prefill_of_older_configs(prefill: bool, method: str) -> None:
    assert InpaintConfig(prefill=prefill).fill_method == method


def test_untrained_network_starts_as_the_telea_fill() -> None:
    torch.manual_seed(0)
    net = build(TINY)
    y = torch.rand(1, 3, 24, 24)
    m = torch.zeros(1, 1, 24, 24)
    m[..., 8:16, 8:16] = 1
    out, fill = net(y, m), net.fill(y, m)
    assert (out - fill).abs().max() < 0.05
    assert torch.equal(fill * (1 - m), y * (1 - m))


def _image_and_mask(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    img = rng.random((70, 90, 3), dtype=np.float32)
    mask = np.zeros((70, 90), np.float32)
    mask[20:40, 30:50] = 1.0
    mask[60, :] = 1.0  # a 1 px scratch
    return img, mask


@pytest.mark.parametrize("k", [1, 5])
def test_known_pixels_kept_exactly(rng: np.random.Generator, k: int) -> None:
    img, mask = _image_and_mask(rng)
    out = drive(TinyInpaint().run(img, mask=mask, params={"k": k}, tile=160))
    assert out.shape == img.shape and out.dtype == np.float32
    assert np.array_equal(out[mask == 0], img[mask == 0])
    assert not np.allclose(out[mask > 0], img[mask > 0])


def test_tiles_report_progress_and_skip_empty(rng: np.random.Generator) -> None:
    img = rng.random((300, 300, 3), dtype=np.float32)
    mask = np.zeros((300, 300), np.float32)
    mask[10:20, 10:20] = 1.0
    reports = []
    out = drive(TinyInpaint().run(img, mask=mask, tile=136), reports.append)
    assert len(reports) > 1 and reports[-1].done == reports[-1].total
    assert np.array_equal(out[mask == 0], img[mask == 0])


def test_mask_required_and_size_checked(rng: np.random.Generator) -> None:
    img, _ = _image_and_mask(rng)
    with pytest.raises(InvalidInputError):
        drive(TinyInpaint().run(img))
    with pytest.raises(InvalidInputError):
        drive(TinyInpaint().run(img, mask=np.zeros((5, 5), np.float32)))


def test_seam_correction_is_zero_on_known_and_without_feather(rng: np.random.Generator) -> None:
    img, mask = _image_and_mask(rng)
    x_hat = img + 0.1
    assert not svc.seam_correction(img, x_hat, mask, 0).any()
    fixed = svc.composite(img, x_hat, mask, 4)
    assert np.array_equal(fixed[mask == 0], img[mask == 0])
    edge = fixed[20, 30:50] - img[20, 30:50]  # first hole row: pulled toward the known side
    assert np.abs(edge).mean() < 0.1
