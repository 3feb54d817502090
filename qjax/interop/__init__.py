"""Converters to and from Qiskit (circuits, OpenQASM 2/3) and PennyLane (tapes, QNodes).

They need only the IR (:mod:`qjax.ir`); the public names are ``qjax.from_qiskit``,
``qjax.to_qiskit``, ``qjax.from_qasm``, ``qjax.to_qasm`` and ``qjax.from_pennylane``,
loaded on first use (Qiskit and PennyLane take seconds to import).
"""
