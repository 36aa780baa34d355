"""Model-free helpers of the latent research views."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.errors import InvalidInputError
from app.ml.steering.views import noise_level


def test_noise_level_measures_gaussian_noise() -> None:
    rng = np.random.default_rng(0)
    flat = np.full((200, 240, 3), 0.5, np.float32)
    assert noise_level(flat) == pytest.approx(0.0, abs=1e-6)
    noisy = (flat + rng.normal(0, 20 / 255, flat.shape)).astype(np.float32)
    assert noise_level(noisy) == pytest.approx(20.0, rel=0.05)
    assert noise_level(noisy[..., 0]) == pytest.approx(20.0, rel=0.05)
    with pytest.raises(InvalidInputError):
        noise_level(flat[:2, :2])
