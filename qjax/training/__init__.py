"""Training: the Optax loop, its optimisers, Orbax checkpoints and the run's records.

- :mod:`qjax.training.fit`: :func:`qjax.fit`, resumable, backend-agnostic;
- :mod:`qjax.training.optimizers`: Optax optimisers and schedules from config;
- :mod:`qjax.training.checkpoint`: run state on Orbax (:class:`CheckpointOptions`);
- :mod:`qjax.training.records`: metrics.jsonl, result.json, manifest.json, plots,
  :func:`qjax.load_run`;
- :mod:`qjax.training.loggers`: optional CSV, TensorBoard and MLflow loggers.
"""
