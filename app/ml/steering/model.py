"""LatentModel: the one owner of the window's latent edit (and so of the latent strength).

An evented wrapper around the frozen, torch-free
:class:`~app.ml.steering.edit.LatentEdit`. The Latent dock's controls write to it; the
widgets that show the edit (the dock itself, the Restore panel's ``latent_strength``
row) mirror it from :attr:`LatentModel.changed`; steered jobs receive
:attr:`LatentModel.edit` inside their service. The strength range is
:data:`~app.ml.steering.edit.STRENGTH_RANGE`.
"""

from __future__ import annotations

from dataclasses import replace

from psygnal import Signal

from app.ml.steering.edit import STRENGTH_RANGE, LatentEdit


def clamp_strength(value: float) -> float:
    """``value`` limited to :data:`STRENGTH_RANGE`."""
    low, high = STRENGTH_RANGE
    return min(high, max(low, float(value)))


class LatentModel:
    """The current LatentEdit; ``changed(edit)`` is emitted after every real change.

    Setting an edit equal to the current one emits nothing, so a widget that mirrors the
    model and writes back what it shows does not echo.
    """

    changed = Signal(object)

    def __init__(self, edit: LatentEdit | None = None) -> None:
        self._edit = edit or LatentEdit()

    @property
    def edit(self) -> LatentEdit:
        return self._edit

    @property
    def strength(self) -> float:
        return self._edit.strength

    def set_edit(self, edit: LatentEdit) -> None:
        """Make ``edit`` the current edit."""
        if edit == self._edit:
            return
        self._edit = edit
        self.changed.emit(edit)

    def set_strength(self, value: float) -> None:
        """Set the strength (clamped to STRENGTH_RANGE), keeping the rest of the edit."""
        self.set_edit(replace(self._edit, strength=clamp_strength(value)))

    def set_step(self, sigma: float | None) -> None:
        """Set the strength step's sigma (None: automatic)."""
        self.set_edit(replace(self._edit, steer_sigma=sigma or None))
