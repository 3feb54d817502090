"""Qiskit primitives backed by qjax's simulator: ``qjax.primitives.Estimator`` and ``Sampler``.

Drop-in replacements for Qiskit's ``StatevectorEstimator`` / ``StatevectorSampler``
(``BaseEstimatorV2`` / ``BaseSamplerV2``) that compile each circuit once and evaluate
every parameter set of a job in one vmapped JAX call. The code lives in
:mod:`qjax.frontends.qiskit_primitives`; this module is the public path.
"""

from qjax.frontends.qiskit_primitives import Estimator, Sampler

__all__ = ["Estimator", "Sampler"]
