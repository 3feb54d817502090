"""Experiments: a validated config turned into a problem, an ansatz, initial parameters and a report.

- :mod:`qjax.experiments.build`: :func:`build_experiment` and the registries of
  problems, ansätze and experiments (VQE, QAOA, classifier);
- :mod:`qjax.experiments.classifier`: the data re-uploading classifier's model and loss.
"""
