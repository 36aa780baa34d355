"""Canvas pieces: colour maps, array -> QImage, the mask overlay's dirty-rect update."""

from __future__ import annotations

import numpy as np

from app.ui.canvas.convert import HEAT_LUT, heat_rgb, latent_rgb, rgb_image, to_uint8
from app.ui.canvas.items import MaskItem


def test_heat_lut_runs_dark_to_bright() -> None:
    luma = HEAT_LUT.astype(float) @ [0.299, 0.587, 0.114]
    assert HEAT_LUT.shape == (256, 3) and luma[0] < 5 and luma[-1] > 250
    assert np.all(np.diff(luma) >= -1e-9), "a heat map must be ordered by brightness"
    assert heat_rgb(np.array([[0.0, 1.0]], np.float32)).shape == (1, 2, 3)


def test_rgb_image_keeps_its_buffer(qapp) -> None:  # noqa: ANN001
    pixels = np.random.default_rng(0).random((7, 9, 3), dtype=np.float32)
    image = rgb_image(pixels)
    assert (image.width(), image.height()) == (9, 7)
    color = image.pixelColor(4, 3)
    assert (color.red(), color.green(), color.blue()) == tuple(to_uint8(pixels[3, 4]))


def test_latent_uses_given_range() -> None:
    lat = np.array([[-1.0, 0.0, 1.0]], np.float32)
    rgb = latent_rgb(lat, (-1.0, 1.0))
    assert rgb.shape == (1, 3, 3) and not np.array_equal(rgb[0, 0], rgb[0, 2])


def test_mask_item_updates_only_dirty_rect(qapp) -> None:  # noqa: ANN001
    mask = np.zeros((20, 30), np.float32)
    item = MaskItem(mask)
    mask[:, :] = 1.0
    item.update_region(mask, (2, 3, 5, 8))
    alpha = item._buffer[..., 3]
    assert alpha[2:5, 3:8].min() > 0 and alpha.sum() == alpha[2:5, 3:8].sum()
