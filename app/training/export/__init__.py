"""Export a training run as a shipped model: weights, manifest entry and model card.

One entry point, ``python -m app.training.export RUN --id ID --task TASK`` (and
:func:`export_run`), with one writer per model family behind it:

- :mod:`.command`  the command line and :func:`export_run`, which picks the writer from
  the run's config task;
- :mod:`.vdir`     VDIR restorers and their quick previews (fp16 when lossless);
- :mod:`.mask`     inpainting, damage-detector and VDIR-SR networks (fp32);
- :mod:`.sr`       the DL-Net upscaler (SR run + estimator-only run merged);
- :mod:`.cards`    the Markdown model card of each family (``RUN/card_notes.md`` appended);
- :mod:`.files`    safetensors writing (mode 644), the manifest entry replacement, the
  run's ``run_info.json`` / ``metrics.json``.

Metrics come from ``RUN/metrics.json``, written by ``python -m app.evaluation.vdir``
(``.inpaint``, ``.detect``) with ``--run RUN``.
"""

from app.training.export.command import export_run, main

__all__ = ["export_run", "main"]
