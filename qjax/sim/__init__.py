"""The statevector simulator: a Circuit compiled once into pure JAX functions.

Bottom to top (every import points down):

- :mod:`qjax.sim.program`: the lowered program (:class:`Step`, :class:`Program`,
  :func:`lower`) and the one apply kernel;
- :mod:`qjax.sim.checks`: circuit, dtype, observable and parameter checks and sampling,
  shared with the density-matrix compiler (:mod:`qjax.noise.density`);
- :mod:`qjax.sim.fusion`, :mod:`qjax.sim.layering`: gates fused into few wide blocks,
  repeated layers scanned, the adjoint gradient;
- :mod:`qjax.sim.pauli`: Pauli-sum kernels (expectation values without matrices);
- :mod:`qjax.sim.clifford`: trailing Clifford gates absorbed into the observables;
- :mod:`qjax.sim.gradients`: the gradient method names, parameter shift and SPSA;
- :mod:`qjax.sim.compile`: :func:`qjax.compile` itself;
- :mod:`qjax.sim.sharding`: batches of parameter sets spread over devices.
"""
