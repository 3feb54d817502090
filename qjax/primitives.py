"""Qiskit primitives backed by qjax's simulator: ``qjax.primitives.Estimator`` and ``Sampler``.

The code lives in :mod:`qjax.frontends`; this module is the public path.
"""

__all__: list[str] = []
