"""What the command-line entry points share (``python -m qjax.train`` / ``qjax.evaluate``).

- :mod:`qjax.cli.session`: one run session: JAX set-up, experiment, backend (with its
  fallbacks), objective, manifest and the records a run directory holds.
- :mod:`qjax.cli.training`: the training loop of ``qjax.train`` (progress, loggers,
  checkpoints, what a failed run still writes).
- :mod:`qjax.cli.errors`: failure handling: a user error is one line and an exit code.
"""
