"""Controllers of the main window: each owns its panel, listens to the document and its
model, and asks the :class:`~app.ui.job_runner.JobRunner` for work.

``MainWindow`` only composes them with the docks, menus and toolbar:

- :mod:`.files`: open, recent files, projects, export, masks, autosave, recovery;
- :mod:`.tools`: canvas tools, brush size/hardness, whole-mask operations;
- :mod:`.help`: the shortcut list and the About box;
- :mod:`.restore`: the Restore panel: previews, renders, cancel, progress, metrics;
- :mod:`.degrade`: the Degrade panel: synthesise a degraded copy;
- :mod:`.latent` (+ :mod:`.latent_research`, :mod:`.latent_sidecar`): the Latent dock over
  the evented :class:`~app.ml.steering.model.LatentModel`,
  steered runs, the latent brush, research views, recipe sidecars;
- :mod:`.damage`: the Damage dock: detect, live mask, inpaint, repair all.
"""
