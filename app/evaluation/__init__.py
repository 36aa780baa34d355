"""Evaluation and benchmarking: how Patina measures quality and speed.

What lives here (each module states its own protocol):

- :mod:`.protocol`  the ``patina eval`` engine: degrade a folder of clean images
  (seeded, 8-bit or float protocol), restore with any service, score PSNR/SSIM and time
  (denoise, deblock, real-noise pairs, upscale, inpaint, old-photo chains).
- :mod:`.bench`     the ``patina bench`` engine: ms per output megapixel on synthetic
  images; :mod:`.e2e` times a whole ``patina restore`` process (``bench --e2e``).
- :mod:`.vdir`      a VDIR weights file: quality tables, EST accuracy, latent steering
  (VDIR Fig. 5), speed; ``python -m app.evaluation.vdir``.
- :mod:`.inpaint`   inpainting inside the hole vs OpenCV/harmonic baselines;
  ``python -m app.evaluation.inpaint``.
- :mod:`.detect`    damage detectors: precision/recall/IoU on synthetic damage;
  ``python -m app.evaluation.detect``.
- :mod:`.routing`   the pathfinder's table: per-region features and the error of every
  restoration path (the rewards :mod:`app.training.route_train` learns from).
- :mod:`.images`, :mod:`.metrics_file`  shared helpers: test-set listing and reading,
  merging results into a run's ``metrics.json`` (read by the model cards at export).

Layer: ``app.evaluation`` imports :mod:`app.ml` and :mod:`app.core` only: never Qt,
never :mod:`app.ui` / :mod:`app.workers`, and never :mod:`app.training`. Training
imports it (the route trainer's table, the image listing of its data), reads the
``metrics.json`` it writes (``app.training.export`` copies it into the model card), and
:mod:`app.commands` adapts it to ``patina eval`` / ``patina bench``. Evaluation sits
*below* training because what it measures is a shipped or exported model behind the
service protocol, which is :mod:`app.ml`'s; if evaluation imported training, training
could not use it without a cycle. The import-linter ``layers`` contract in
pyproject.toml keeps this direction.
"""
