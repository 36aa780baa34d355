"""The user-facing parameters and descriptions of each learned architecture's service.

Torch-free, so the registry can list learned models (CLI ``info``, the GUI's menus and
parameter controls) without importing the model code; the services import their
``PARAMS`` from here, so the window, the CLI and the service always agree. A manifest
entry of an architecture missing from :data:`ARCH_SPECS` may still carry its own
``params`` and ``description`` in its ``config``.
"""

from __future__ import annotations

from app.ml.services.base import ParamSpec
from app.ml.steering.edit import STRENGTH_NEUTRAL, STRENGTH_RANGE

VDIR_DESCRIPTION = "Blind learned restoration (VDIR); its latent can be steered."
VDIR_PARAMS = (
    ParamSpec("latent_strength", STRENGTH_NEUTRAL, *STRENGTH_RANGE,
              help="1 = neutral; above 1 smooths more (as if the photo were noisier), "
                   "below 1 keeps more texture and grain"),
    ParamSpec("seed", -1, -1, 2**31 - 1,
              help="-1 uses the mean latent; otherwise a latent sampled with this seed"),
    ParamSpec("ensemble", "1", choices=("1", "2", "4", "8"),
              help="self-ensemble: average the restorer over 1, 2, 4 or 8 flips/rotations "
                   "of the photo (8: about +0.1 dB on noise, +0.07 on JPEG; 8x the "
                   "restore time)"),
    ParamSpec("route", "full", choices=("full", "auto"),
              help="auto: a pathfinder sends each 64-px region to the full or the quick "
                   "restorer, or leaves a noise-free one as it is (models with a "
                   "pathfinder; docs/routing.md)"),
)  # fmt: skip

# DL-Net's defaults (Guo et al.): K = 5 estimates, step gamma = 1e-3; the same values as
# app.ml.dlnet.PAPER_K / PAPER_GAMMA (a test keeps them equal; that module needs torch).
INPAINT_DESCRIPTION = (
    "Gated-conv U-Net choosing among oriented line fills, refined by DL-Net's "
    "likelihood term on the known pixels around the hole; for holes, scratches and dust."
)
INPAINT_PARAMS = (
    ParamSpec("k", 5, 1, 20, help="DL-Net estimates (1 = no likelihood refinement)"),
    ParamSpec("gamma", 1e-3, 0.0, 0.1, help="step size of the likelihood refinement"),
    ParamSpec(
        "feather",
        4,
        0,
        32,
        help="pixels over which the seam is blended into the hole "
        "(conv-head models; line-fill models meet the border exactly)",
    ),
)

SR_DESCRIPTION = (
    "Learned super-resolution (DL-Net): a network upscales, then K likelihood steps make "
    "the result, blurred by Blur and shrunk by Scale, match the photo; Blur = -1 "
    "estimates the blur first (blind)."
)
SR_PARAMS = (
    ParamSpec("scale", 2, 2, 4, help="enlargement factor (2, 3 or 4)"),
    ParamSpec("blur", 0.0, -1.0, 3.0,
              help="Gaussian blur (std, in output pixels) the photo had before it was made "
                   "smaller; 0 = sharp (default), -1 estimates it from the photo (blind; "
                   "over-estimates small blurs today: docs/models.md)"),
    ParamSpec("k", 5, 1, 20, help="DL-Net estimates (1 = no likelihood refinement)"),
    ParamSpec("gamma", 1e-3, 0.0, 0.1, help="step size of the likelihood refinement"),
)  # fmt: skip

BLIND_SR_DESCRIPTION = (
    "Blind learned super-resolution (VDIR-SR): a latent code read from the photo tells "
    "the network how blurred it is (the estimate is printed); Sharpen steers that code "
    "(1 = as read, more = sharper, less = softer)."
)
BLIND_SR_PARAMS = (
    ParamSpec("scale", 2, 2, 4, help="enlargement factor (2, 3 or 4)"),
    ParamSpec("sharpen", STRENGTH_NEUTRAL, *STRENGTH_RANGE,
              help="latent strength along the blur direction: 1 = the model's own "
                   "reading, above 1 sharper, below 1 softer"),
)  # fmt: skip

ARCH_SPECS: dict[str, tuple[tuple[ParamSpec, ...], str]] = {
    "vdir": (VDIR_PARAMS, VDIR_DESCRIPTION),
    "dlnet-inpaint": (INPAINT_PARAMS, INPAINT_DESCRIPTION),
    "dlnet-sr": (SR_PARAMS, SR_DESCRIPTION),
    "vdir-sr": (BLIND_SR_PARAMS, BLIND_SR_DESCRIPTION),
}
