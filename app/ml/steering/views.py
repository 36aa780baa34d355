"""Model-free helpers of the latent research views: PCA or t-SNE to 2-D, contact sheets.

numpy + OpenCV (+ scikit-learn for t-SNE, imported when used); no torch, so the window
may import this.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from app.core.errors import InvalidInputError


def pca_2d(features: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """Project (N, L) rows onto their first two principal axes (numpy SVD).

    Returns (N, 2) coordinates and the explained-variance fractions. Axis signs are fixed
    so that each axis's largest loading is positive (deterministic output).
    """
    centred = features - features.mean(axis=0, keepdims=True)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:2]
    if axes.shape[0] < 2:
        axes = np.vstack([axes, np.zeros((2 - axes.shape[0], features.shape[1]))])
    signs = np.sign(axes[np.arange(2), np.abs(axes).argmax(axis=1)])
    axes = axes * np.where(signs == 0, 1.0, signs)[:, None]
    var = s**2
    total = float(var.sum()) or 1.0
    explained = tuple(float(v / total) for v in (list(var[:2]) + [0.0, 0.0])[:2])
    return (centred @ axes.T).astype(np.float32), (explained[0], explained[1])


PROJECTIONS = ("pca", "tsne")


def tsne_2d(features: np.ndarray, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """(N, 2) t-SNE coordinates of (N, L) rows (scikit-learn, PCA initialisation, fixed
    ``seed``: the same rows give the same map). The perplexity is capped at (N - 1) / 3,
    as t-SNE needs; fewer than 4 rows fall back to PCA."""
    if len(features) < 4:
        return pca_2d(features)[0]
    from sklearn.manifold import TSNE

    tsne = TSNE(
        n_components=2,
        perplexity=min(perplexity, (len(features) - 1) / 3),
        init="pca",
        random_state=seed,
    )
    return np.asarray(tsne.fit_transform(features.astype(np.float64)), np.float32)


def project_2d(features: np.ndarray, method: str = "pca") -> tuple[np.ndarray, tuple[float, float]]:
    """(N, 2) points and PCA's explained-variance fractions (``(nan, nan)`` for t-SNE,
    whose axes have no variance meaning). ``method``: one of :data:`PROJECTIONS`."""
    if method not in PROJECTIONS:
        raise InvalidInputError(f"unknown projection {method!r}; use one of {PROJECTIONS}")
    if method == "tsne":
        return tsne_2d(features), (float("nan"), float("nan"))
    return pca_2d(features)


def contact_sheet(
    images: Sequence[np.ndarray], labels: Sequence[str] = (), cols: int = 0, gap: int = 8
) -> np.ndarray:
    """Images (same size, float32 (h, w, 3)) in a grid on a dark background, each with an
    optional label strip below; returns one float32 (H, W, 3) image (8-bit levels)."""
    if not images:
        raise InvalidInputError("no images to put on a sheet")
    h, w = images[0].shape[:2]
    cols = cols or int(np.ceil(np.sqrt(len(images))))
    rows = -(-len(images) // cols)
    strip = 22 if labels else 0
    sheet = np.full((gap + rows * (h + strip + gap), gap + cols * (w + gap), 3), 31, np.uint8)
    for i, image in enumerate(images):
        y, x = gap + (i // cols) * (h + strip + gap), gap + (i % cols) * (w + gap)
        sheet[y : y + h, x : x + w] = np.rint(np.clip(image[:h, :w], 0, 1) * 255).astype(np.uint8)
        if i < len(labels):
            cv2.putText(sheet, str(labels[i]), (x + 4, y + h + 16), cv2.FONT_HERSHEY_SIMPLEX,
                        0.45, (235, 235, 235), 1, cv2.LINE_AA)  # fmt: skip
    return sheet.astype(np.float32) / np.float32(255)


_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


def noise_level(image: np.ndarray) -> float:
    """Immerkær's fast estimate of the Gaussian noise sigma of an image (0..255 units).

    ``image``: float (H, W, 3) or (H, W) in [0, 1]; colour images give the mean of the
    per-channel estimates. Edges inflate it a little: compare values of the same picture
    (the noise left after restoring it), not across pictures.
    """
    planes = [image[..., c] for c in range(image.shape[2])] if image.ndim == 3 else [image]
    h, w = planes[0].shape
    if h < 3 or w < 3:
        raise InvalidInputError("the noise level needs an image of at least 3x3 pixels")
    scale = np.sqrt(np.pi / 2.0) / (6.0 * (w - 2) * (h - 2))
    sigmas = []
    for plane in planes:
        grey = np.asarray(plane, np.float32) * 255.0
        response = cv2.filter2D(grey, cv2.CV_32F, _IMMERKAER)[1:-1, 1:-1]
        sigmas.append(scale * float(np.abs(response).sum()))
    return float(np.mean(sigmas))
