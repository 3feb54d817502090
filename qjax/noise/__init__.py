"""Noise: channels and noise models, the density-matrix compiler, error mitigation in JAX.

- :mod:`qjax.noise.channels`: :class:`Channel`, :class:`NoiseModel` and a device's
  calibration turned into one (re-exported here);
- :mod:`qjax.noise.density`: :func:`qjax.compile_noisy` (density matrix or trajectories);
- :mod:`qjax.noise.mitigation`: readout inversion, gate folding, noise scaling and
  zero-noise extrapolation, differentiable on the noisy simulator.
"""

from qjax.noise.channels import (
    Channel,
    DeviceNoise,
    GateNoise,
    NoiseModel,
    Schedule,
    amplitude_damping,
    average_gate_fidelity,
    depolarizing,
    device_depolarizing,
    device_noise,
    phase_damping,
    readout_confusion,
    thermal_relaxation,
)

__all__ = [
    "Channel",
    "GateNoise",
    "NoiseModel",
    "depolarizing",
    "amplitude_damping",
    "phase_damping",
    "thermal_relaxation",
    "readout_confusion",
    "average_gate_fidelity",
    "device_depolarizing",
    "DeviceNoise",
    "device_noise",
    "Schedule",
]
