"""Front ends: qjax's simulator behind other ecosystems' interfaces.

The PennyLane device ``qml.device("qjax.simulator", wires=n)`` and the Qiskit primitives
(public as :mod:`qjax.primitives`). They sit beside :mod:`qjax.backends` and use
:mod:`qjax.sim` and :mod:`qjax.interop`.
"""
