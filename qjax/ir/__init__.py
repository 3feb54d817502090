"""The circuit IR: pure Python data, no JAX arrays inside.

- :mod:`qjax.ir.circuit`: :class:`Circuit`, :class:`Operation`, :class:`Param`,
  :class:`Input`, :class:`Angle` (a linear map from parameters and inputs to gate angles);
- :mod:`qjax.ir.gates`: the one gate table (matrices, trig and phase forms, generators);
- :mod:`qjax.ir.pauli`: :class:`PauliSum` (parsing, algebra, conversion) and the Pauli matrices;
- :mod:`qjax.ir.ansatze`: templates (hardware-efficient, QAOA, UCC-style excitations, encodings).

Nothing here imports the simulator; everything above imports this.
"""
