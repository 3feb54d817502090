"""Untrusted OpenQASM: no file is read through include, no program expands past the limits before it is refused.

The bounds are checked against what Qiskit's parser and qjax's converter really
build (``from_qasm``), so a bound that is too small fails here.
"""

import pytest
from qiskit import QuantumCircuit, qasm2, qasm3
from qiskit.circuit import Parameter

from qjax.errors import ConversionError
from qjax.interop.qiskit import from_qasm
from qjax.wire import RequestError, decode_circuit
from qjax.wire.qasm import CONTROL_FACTOR, STANDARD_GATE_OPERATIONS, QasmRefused, bound_program

LIMITS = dict(max_qubits=20, max_operations=20_000, max_gate_calls=2_000, max_params=10_000)
SECRET = "qjaxsecret7d1f"  # an identifier: Qiskit quotes it whole in its error


def bound(text, **limits):
    return bound_program(text, **(LIMITS | limits))


def refused(text, **limits) -> QasmRefused:
    with pytest.raises(QasmRefused) as info:
        bound(text, **limits)
    return info.value


@pytest.fixture
def secret_file(tmp_path, monkeypatch):
    """A readable file in the working directory whose first token is a secret."""
    (tmp_path / "secret.inc").write_text(f"{SECRET} q;\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "secret.inc"


INCLUDES = [
    'OPENQASM 2.0; include "/etc/passwd"; qreg q[2]; h q[0];',
    'OPENQASM 2.0; include "/proc/self/environ"; qreg q[2];',
    'OPENQASM 2.0; include "secret.inc"; qreg q[2];',
    'OPENQASM 2.0; include "./secret.inc"; qreg q[2];',
    "OPENQASM 2.0;\ninclude\n'secret.inc'\n;\nqreg q[2];",
    'OPENQASM 2.0; include "qelib1.inc"; include "secret.inc"; qreg q[2];',
    'OPENQASM 2.0; include "qelib1.inc"; // include "x"\ninclude "secret.inc"; qreg q[2];',
    'OPENQASM 2.0; /* */ include "secret.inc"; qreg q[2];',
    'OPENQASM 3.0; include "/etc/passwd"; qubit[2] q; h q[0];',
    'OPENQASM 3.0; /* include "stdgates.inc"; */ include "secret.inc"; qubit[2] q;',
    'OPENQASM 3.0; include "stdgates.inc.d/../secret.inc"; qubit[2] q;',
    'include "secret.inc"; qubit[2] q;',
]


@pytest.mark.parametrize("text", INCLUDES)
def test_only_the_standard_library_may_be_included(text, secret_file):
    assert "include" in refused(text).message or "unexpected" in refused(text).message
    with pytest.raises(RequestError) as info:  # the service's path: refused before Qiskit sees the program
        decode_circuit({"format": "openqasm3", "source": text})
    assert 400 <= info.value.status < 500 and SECRET not in info.value.message and "root:" not in info.value.message


def test_a_library_user_may_include_a_local_file_unless_includes_are_off(secret_file):
    text = 'OPENQASM 2.0; include "qelib1.inc"; include "secret.inc"; qreg q[1]; h q[0];'
    with pytest.raises(ConversionError) as info:  # the default reads the file (here: not a valid program)
        from_qasm(text)
    assert SECRET in str(info.value)
    with pytest.raises(ConversionError) as info:
        from_qasm(text, allow_includes=False)
    assert SECRET not in str(info.value) and "qelib1.inc" in str(info.value)
    (secret_file.parent / "good.inc").write_text("gate mine a { h a; }\n")
    good = 'OPENQASM 2.0; include "qelib1.inc"; include "good.inc"; qreg q[1]; mine q[0];'
    assert from_qasm(good).operations[0].gate == "H"
    with pytest.raises(ConversionError):
        from_qasm(good, allow_includes=False)


def test_standard_includes_still_parse_with_includes_off():
    for text in [
        'OPENQASM 2.0; include "qelib1.inc"; qreg q[2]; h q[0]; cx q[0], q[1];',
        "OPENQASM 3.0; include 'stdgates.inc'; qubit[2] q; h q[0]; cx q[0], q[1];",
    ]:
        bound(text)
        assert [op.gate for op in from_qasm(text, allow_includes=False).operations] == ["H", "CNOT"]


def test_parser_messages_naming_another_file_are_not_echoed():
    from qjax.wire.format import _parser_message

    leaked = "cannot parse OpenQASM 2: \"passwd:1,0: 'root' is not defined in this scope\""
    assert "root" not in _parser_message(leaked)
    mine = "cannot parse OpenQASM 2: \"<input>:1,25: 'frob' is not defined in this scope\""
    assert _parser_message(mine) == mine
    assert _parser_message("cannot parse OpenQASM 3: '1,14: gate 'frob' is not defined.'").endswith("defined.'")


def gate_bomb(levels, version=2, modifier=""):
    head = 'OPENQASM 2.0; include "qelib1.inc";' if version == 2 else 'OPENQASM 3.0; include "stdgates.inc";'
    gates = " ".join(f"gate g{i} a {{ {modifier}g{i - 1} a; g{i - 1} a; }}" for i in range(1, levels + 1))
    reg = "qreg q[1];" if version == 2 else "qubit[1] q;"
    return f"{head} gate g0 a {{ x a; }} {gates} {reg} g{levels} q[0];"


@pytest.mark.timeout(10)  # the bomb took 103 s before; the bound reads it without expanding anything
@pytest.mark.parametrize("text", [gate_bomb(18), gate_bomb(18, 3, "inv @ "), gate_bomb(60), gate_bomb(300, 3)])
def test_gate_definition_bombs_are_refused_without_expanding(text):
    error = refused(text)
    assert error.status == 413 and "20,000 operations" in error.message
    with pytest.raises(RequestError) as info:
        decode_circuit({"format": "openqasm3", "source": text})
    assert info.value.status == 413 and info.value.field == "circuit.source"


def test_a_bomb_just_under_the_limit_is_counted_exactly():
    text = gate_bomb(14)  # 2**14 = 16,384 operations
    assert bound(text).operations == 2**14
    assert refused(text, max_operations=2**14 - 1).status == 413


def test_broadcasting_over_registers_counts_every_qubit():
    body = "h a; " * 100
    text = f'OPENQASM 2.0; include "qelib1.inc"; gate g a {{ {body} }} qreg q[20];' + " g q;" * 20
    assert "operations" in refused(text).message  # 20 calls × 20 qubits × 100 gates
    assert bound(text.replace(" g q;" * 20, " g q;" * 5)).operations == 5 * 20 * 100
    assert len(from_qasm(text.replace(" g q;" * 20, " g q;"), allow_includes=False).operations) == 20 * 100


@pytest.mark.parametrize(
    "text, words",
    [
        ('OPENQASM 2.0; include "qelib1.inc"; qreg q[2000000000]; h q[0];', "2000000000 qubits"),
        ('OPENQASM 3.0; include "stdgates.inc"; qubit[21] q;', "21 qubits"),
        ('OPENQASM 3.0; include "stdgates.inc"; qubit[10] q; qubit[11] r;', "21 qubits"),
        ('OPENQASM 3.0; include "stdgates.inc"; h $50000000;', "names qubit $50000000"),
        ('OPENQASM 3.0; include "stdgates.inc"; qubit[0x10] q;', "plain integer"),
        ('OPENQASM 3.0; include "stdgates.inc"; qubit[1<<30] q;', "plain integer"),
        ('OPENQASM 3.0; include "stdgates.inc"; qubit[1] q; for int i in [0:100000000] { h q[0]; }', "control flow"),
        ('OPENQASM 3.0; include "stdgates.inc"; qubit[1] q; bit c; while (c) { h q[0]; }', "control flow"),
        ('OPENQASM 3.0; include "stdgates.inc"; qubit[1] q; def f(qubit a) { h a; } f(q[0]);', "subroutines"),
        ('OPENQASM 3.0; include "stdgates.inc"; qubit[2] q; let a = q[0:1]; h a;', "aliases"),
        ('OPENQASM 3.0; include "stdgates.inc"; const int n = 5; qubit[n] q;', "classical variables"),
        ('OPENQASM 3.0; include "stdgates.inc"; qubit[2] q; pow(1000) @ cx q[0], q[1];', "'pow'"),
        ('OPENQASM 3.0; include "stdgates.inc"; qubit[16] q; ctrl(15) @ x q[0], q[1];', "at most 2 controls"),
        ('OPENQASM 3.0; include "stdgates.inc"; qubit[1] q; #pragma hello\nh q[0];', "pragmas"),
        ('OPENQASM 2.0; include "qelib1.inc"; qreg q[1]; creg c[1]; if (c==1) x q[0];', "control flow"),
        (
            'OPENQASM 2.0; include "qelib1.inc"; qreg q[1]; rx(' + "(" * 5000 + "1" + ")" * 5000 + ") q[0];",
            "nest deeper than 64",
        ),
        ("OPENQASM 3.0; /* never closed qubit[1] q;", "never closed"),
        ("OPENQASM 4.0; qubit[1] q;", "not supported"),
    ],
)
def test_what_cannot_be_bounded_is_refused_with_a_reason(text, words):
    assert words in refused(text).message


def test_inputs_and_decomposed_calls_are_bounded():
    inputs = 'OPENQASM 3.0; include "stdgates.inc";' + "".join(f" input float[64] a{i};" for i in range(11))
    assert "inputs" in refused(inputs, max_params=10).message
    calls = 'OPENQASM 3.0; include "stdgates.inc"; gate g a { h a; } qubit[20] q;' + " g q;" * 101
    assert "decomposing" in refused(calls).message  # 2,020 calls of a user-defined gate
    assert bound(calls.replace(" g q;" * 101, " h q;" * 101)).gate_calls == 0


def test_thousands_of_blank_lines_and_comments_read_in_linear_time():
    bound("\n" * 1_000_000 + 'OPENQASM 3.0; include "stdgates.inc"; qubit[1] q; h q[0];')
    assert "never closed" in refused("OPENQASM 3.0; qubit[1] q;" + " /*a" * 50_000).message
    from qjax.interop.qiskit import qasm_version

    assert qasm_version("\n" * 1_000_000 + "OPENQASM 2.0;") == 2


@pytest.mark.parametrize("name", sorted(set(STANDARD_GATE_OPERATIONS) - {"u0", "delay", "gphase"}))  # no gates
def test_each_standard_gate_expands_to_at_most_its_table_entry(name):
    """The table is an upper bound of what from_qasm makes of one call (Qiskit's decompositions may change)."""
    from qiskit.qasm2 import LEGACY_CUSTOM_INSTRUCTIONS
    from qiskit_qasm3_import.converter import _STDGATES

    shapes = {c.name: (c.num_params, c.num_qubits) for c in LEGACY_CUSTOM_INSTRUCTIONS}
    shapes |= {k: (v[1], v[2]) for k, v in _STDGATES.items()} | {"U": (3, 1), "CX": (0, 2), "gphase": (1, 0)}
    params, qubits = shapes[name]
    version = 2 if name in {c.name for c in LEGACY_CUSTOM_INSTRUCTIONS} | {"U", "CX"} and name not in _STDGATES else 3
    head = (
        'OPENQASM 2.0; include "qelib1.inc"; qreg q[5];'
        if version == 2
        else 'OPENQASM 3.0; include "stdgates.inc"; qubit[5] q;'
    )
    args = "(" + ", ".join(["0.3"] * params) + ")" if params else ""
    text = f"{head} {name}{args} " + ", ".join(f"q[{i}]" for i in range(qubits)) + ";"
    assert len(from_qasm(text, allow_includes=False).operations) <= STANDARD_GATE_OPERATIONS[name]
    assert bound(text).operations == STANDARD_GATE_OPERATIONS[name]


@pytest.mark.parametrize(
    "modifier, body",
    [
        ("ctrl @ ", "h a; cx a, b; rz(0.2) b; ry(0.1) a; cx b, a;"),
        ("negctrl @ ", "U(0.1, 0.2, 0.3) a; swap a, b;"),
        ("ctrl(2) @ ", "cswap a, b, c;"),
        ("ctrl @ ctrl @ ", "ccx a, b, c; crx(0.3) a, b;"),
        ("inv @ ctrl @ ", "cu(0.1, 0.2, 0.3, 0.4) a, b;"),
        ("inv @ ", "t a; sx b; cu(0.1, 0.2, 0.3, 0.4) a, b;"),
    ],
)
def test_controlled_calls_stay_within_their_bound(modifier, body):
    controls = modifier.count("ctrl") + (1 if "(2)" in modifier else 0)
    text = (
        f'OPENQASM 3.0; include "stdgates.inc"; gate g a, b, c {{ {body} }} qubit[5] q; {modifier}g '
        + ", ".join(f"q[{i}]" for i in range(3 + controls))
        + ";"
    )
    made = len(from_qasm(text, allow_includes=False).operations)
    assert made <= bound(text).operations
    assert bound(text).operations == CONTROL_FACTOR[controls] * bound(text.replace(modifier + "g", "g")).operations


def test_programs_qiskit_exports_are_accepted_and_bounded_from_above():
    a, b = Parameter("a"), Parameter("θ_1")
    qc = QuantumCircuit(4, 4)
    qc.ry(a, 0)
    qc.cx(0, 1)
    qc.rzz(b, 1, 2)
    qc.iswap(0, 2)
    qc.ch(0, 1)
    qc.mcx([0, 1, 2], 3)
    qc.rxx(0.3, 2, 3)
    qc.barrier()
    qc.measure(range(4), range(4))
    for text in (qasm3.dumps(qc), qasm2.dumps(qc.assign_parameters([0.4, -0.2]))):
        shape = bound(text)
        assert len(from_qasm(text, allow_includes=False).operations) <= shape.operations <= 200
        assert shape.qubits == 4
