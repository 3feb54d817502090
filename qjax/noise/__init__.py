"""Noise: channels and noise models, the density-matrix compiler, error mitigation in JAX.

- :mod:`qjax.noise.channels`: :class:`Channel`, :class:`NoiseModel` and a device's
  calibration turned into one (re-exported here);
- :mod:`qjax.noise.density`: :func:`qjax.compile_noisy` (density matrix or trajectories);
- :mod:`qjax.noise.mitigation`: readout inversion, gate folding, noise scaling and
  zero-noise extrapolation, differentiable on the noisy simulator.
"""

from qjax.noise.channels import *  # noqa: F403 - the channels' public names, listed once in their __all__
from qjax.noise.channels import __all__ as __all__
