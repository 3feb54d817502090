"""Property-based tests of the wire format (hypothesis).

1. Whatever JSON a client sends, decoding it either succeeds or raises ``RequestError`` with a 4xx status: never
   another exception (which the service would answer with a 500).
2. Encoding a valid circuit or observable and decoding it again gives the same thing: equal as data, and (the
   independent check) the same Qiskit ``Statevector`` / ``SparsePauliOp`` matrix.
"""

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from qiskit.quantum_info import Operator, Statevector

import qjax
from qjax.interop.qiskit import to_qiskit
from qjax.ir.circuit import Angle, Circuit, Operation
from qjax.ir.gates import GATES
from qjax.wire import (
    Limits,
    RequestError,
    decode_batch,
    decode_circuit,
    decode_json,
    decode_observable,
    encode_circuit,
    encode_observable,
)

TARGETS = ("simulator", "noisy_simulator", "ibm_fake")
LIMITS = Limits(max_qubits=6, max_batch=8, max_params=16, max_operations=40, max_terms=30, max_observables=4)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- arbitrary JSON values -----------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["simulator", "qjax.circuit", "openqasm3", "Z0", "X1 Y2", "RX", "CNOT", "zne", "none"])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(
            st.text(max_size=8)
            | st.sampled_from(
                [
                    "target",
                    "circuit",
                    "observables",
                    "params",
                    "shots",
                    "seed",
                    "mitigation",
                    "format",
                    "operations",
                    "gate",
                    "wires",
                    "angles",
                    "matrix",
                    "num_wires",
                    "source",
                    "const",
                ]
            ),
            inner,
            max_size=6,
        )
    ),
    max_leaves=30,
)


def refused_properly(call):
    try:
        call()
    except RequestError as exc:
        assert 400 <= exc.status < 500 and exc.message and len(exc.message) <= 501
        return exc
    return None


@FAST
@given(json_values)
def test_decode_batch_of_any_json_value_raises_only_request_errors(doc):
    refused_properly(lambda: decode_batch(doc, TARGETS, LIMITS))


@FAST
@given(json_values, st.integers(1, 6))
def test_decode_circuit_and_observable_of_any_json_value_raise_only_request_errors(doc, n):
    refused_properly(lambda: decode_circuit(doc, LIMITS))
    refused_properly(lambda: decode_observable(doc, "observables[0]", n, LIMITS))


# --- valid documents with one part replaced by anything -------------------------------------------

VALID = {
    "target": "simulator",
    "circuit": encode_circuit(Circuit(2).ry(qjax.Param(0), 0).cnot(0, 1)),
    "observables": [[[1.0, "Z0 Z1"], [0.5, "X1"]]],
    "params": [[0.3], [0.1]],
    "shots": None,
    "seed": 1,
    "mitigation": "none",
}
PATHS = [
    ("target",),
    ("circuit",),
    ("circuit", "format"),
    ("circuit", "num_wires"),
    ("circuit", "num_params"),
    ("circuit", "operations"),
    ("circuit", "operations", 0),
    ("circuit", "operations", 0, "gate"),
    ("circuit", "operations", 0, "wires"),
    ("circuit", "operations", 0, "angles"),
    ("circuit", "operations", 0, "angles", 0),
    ("circuit", "operations", 1, "matrix"),
    ("observables",),
    ("observables", 0),
    ("observables", 0, 0),
    ("observables", 0, 0, 1),
    ("params",),
    ("params", 0),
    ("params", 0, 0),
    ("shots",),
    ("seed",),
    ("mitigation",),
    ("device",),
    ("version",),
]


def replaced(doc, path, value):
    doc = json.loads(json.dumps(doc))
    here = doc
    for key in path[:-1]:
        here = here[key]
    here[path[-1]] = value
    return doc


@FAST
@given(st.sampled_from(PATHS), json_values)
def test_a_valid_batch_with_any_part_replaced_is_accepted_or_refused_with_a_4xx(path, value):
    doc = replaced(VALID, path, value)
    refused_properly(lambda: decode_batch(doc, TARGETS, LIMITS))


@FAST
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_body_bytes_decode_or_get_a_400(raw):
    error = refused_properly(lambda: decode_json(raw, 64))
    assert error is None or error.status == 400


@FAST
@given(st.text(alphabet='[]{}"\\:,1 ab', max_size=400))
def test_bracket_soup_never_reaches_a_recursion_error(text):
    refused_properly(lambda: decode_json(text.encode(), 8))


@FAST
@given(st.text(alphabet=st.sampled_from(list("qubit[]{}();,@$0123 hxgateincludeOPENQASM3.0\"'/*\n-><=")), max_size=200))
def test_qasm_fragments_never_raise_anything_but_request_errors(source):
    refused_properly(lambda: decode_circuit({"format": "openqasm3", "source": source}, LIMITS))


# --- round trips ---------------------------------------------------------------------------

TABLE = [g for g in GATES if g != "Unitary"]
finite = st.floats(min_value=-10, max_value=10, allow_nan=False, allow_infinity=False)


@st.composite
def angles(draw, num_params):
    terms = draw(st.lists(st.tuples(st.integers(0, num_params - 1), finite.filter(lambda c: c != 0)), max_size=3))
    return Angle(tuple(terms), (), draw(finite))


@st.composite
def unitaries(draw, k):
    seed = draw(st.integers(0, 2**31))
    z = np.random.default_rng(seed).normal(size=(2**k, 2**k)) + 1j * np.random.default_rng(seed + 1).normal(
        size=(2**k, 2**k)
    )
    q, r = np.linalg.qr(z)
    return q * (np.diag(r) / np.abs(np.diag(r)))


@st.composite
def circuits(draw):
    n = draw(st.integers(1, 4))
    num_params = draw(st.integers(1, 5))
    ops = []
    for _ in range(draw(st.integers(0, 12))):
        gate = draw(st.sampled_from(TABLE + ["Unitary"]))
        k = draw(st.integers(1, min(2, n))) if gate == "Unitary" else GATES[gate].num_wires
        assume(k <= n)
        wires = tuple(draw(st.permutations(range(n)))[:k])
        if gate == "Unitary":
            ops.append(Operation("Unitary", wires, matrix=draw(unitaries(k))))
        else:
            ops.append(Operation(gate, wires, tuple(draw(angles(num_params)) for _ in range(GATES[gate].num_params))))
    return Circuit(n, tuple(ops), num_params=num_params)


@st.composite
def observables(draw, n):
    words = st.lists(st.tuples(st.integers(0, n - 1), st.sampled_from("XYZ")), max_size=n, unique_by=lambda p: p[0])
    terms = draw(st.lists(st.tuples(finite, words), min_size=1, max_size=6))
    return qjax.PauliSum([(c, tuple(w)) for c, w in terms], num_wires=n)


def over_the_wire(doc):
    return json.loads(json.dumps(doc))  # what the client sends is what the service parses


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(circuits(), st.data())
def test_circuits_round_trip_through_the_wire(circuit, data):
    decoded = decode_circuit(over_the_wire(encode_circuit(circuit)), Limits())
    assert decoded == circuit
    params = data.draw(st.lists(finite, min_size=circuit.num_params, max_size=circuit.num_params))
    sent, received = Statevector(to_qiskit(circuit, params)), Statevector(to_qiskit(decoded, params))
    assert sent.equiv(received)
    if circuit.operations:  # and not trivially: the state depends on the circuit, so a lost gate would show
        assert Operator(to_qiskit(decoded, params)).equiv(Operator(to_qiskit(circuit, params)))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 5).flatmap(lambda n: st.tuples(st.just(n), observables(n))))
def test_observables_round_trip_through_the_wire(case):
    n, obs = case
    decoded = decode_observable(over_the_wire(encode_observable(obs)), "observables[0]", n)
    assert decoded.terms == obs.terms and decoded.num_wires <= n  # the wire has terms; the circuit has the wires
    np.testing.assert_allclose(decoded.to_qiskit(n).to_matrix(), obs.to_qiskit(n).to_matrix(), atol=1e-12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(circuits(), st.data())
def test_batches_round_trip_with_their_parameters(circuit, data):
    obs = data.draw(observables(circuit.num_wires))
    rows = data.draw(
        st.lists(st.lists(finite, min_size=circuit.num_params, max_size=circuit.num_params), min_size=1, max_size=4)
    )
    doc = {
        "target": "simulator",
        "circuit": encode_circuit(circuit),
        "observables": [encode_observable(obs)],
        "params": rows,
    }
    batch = decode_batch(over_the_wire(doc), TARGETS)
    assert batch.circuit == circuit and [o.terms for o in batch.observables] == [obs.terms]
    np.testing.assert_array_equal(batch.params, np.array(rows, dtype=float).reshape(len(rows), circuit.num_params))
    assert batch.requested_shots == 0 and math.isfinite(float(batch.params.sum()))


def test_the_round_trip_check_can_fail():
    """A decoder that lost or changed a gate would be caught by the Statevector comparison above."""
    circuit = Circuit(2).ry(qjax.Param(0), 0).cnot(0, 1)
    changed = Circuit(2).ry(qjax.Param(0), 1).cnot(0, 1)
    assert not Statevector(to_qiskit(circuit, [0.7])).equiv(Statevector(to_qiskit(changed, [0.7])))
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(
            qjax.PauliSum("Z0").to_qiskit(2).to_matrix(), qjax.PauliSum("Z1").to_qiskit(2).to_matrix()
        )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(circuits(), st.data())
def test_programs_qjax_writes_pass_the_qasm_bound_which_bounds_them_from_above(circuit, data):
    """Whatever ``to_qasm`` writes (Qiskit's exporters) is accepted, and the bound is never below what is built."""
    from qjax.interop.qiskit import from_qasm, to_qasm
    from qjax.wire.qasm import bound_program

    params = data.draw(st.lists(finite, min_size=circuit.num_params, max_size=circuit.num_params))
    for text in (to_qasm(circuit, 3), to_qasm(circuit, 2, params=params)):
        shape = bound_program(text, max_qubits=6, max_operations=10_000, max_gate_calls=2_000, max_params=16)
        built = from_qasm(text, allow_includes=False)
        assert len(built.operations) <= shape.operations and built.num_wires == shape.qubits
        decoded = decode_circuit({"format": "openqasm3", "source": text}, Limits())
        # equal as operators (Qiskit's decomposition of a gate definition is not the same float for float each time)
        bound_params = np.linspace(-2.0, 2.5, decoded.num_params)  # (the export drops unused parameters)
        assert decoded.num_params == built.num_params and Operator(to_qiskit(decoded, bound_params)).equiv(
            Operator(to_qiskit(built, bound_params))
        )
