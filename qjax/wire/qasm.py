"""Untrusted OpenQASM 2 / 3, read and bounded before Qiskit's parser sees it.

A request's program could otherwise make the service read its own files
(``include "/etc/passwd"``: Qiskit's error quoted the file's first token) or grow a
1 kB source into hundreds of thousands of gates (``gate g1 a { g0 a; g0 a; }`` and
so on, each level doubling; 18 levels took 103 s and 6 GB). :func:`bound_program`
reads the program's statements once, without expanding anything, and refuses it
(:class:`QasmRefused`) unless

- it includes only the standard library: ``qelib1.inc`` (OpenQASM 2) or
  ``stdgates.inc`` (OpenQASM 3); nothing else, so no file is ever opened;
- every statement is one it can bound: the header, includes, register and
  ``input float|angle`` declarations with integer-literal sizes, ``gate`` (and
  OpenQASM 2 ``opaque``) definitions, gate calls (with ``inv`` and at most
  ``_MAX_CONTROLS`` ``ctrl``/``negctrl`` modifiers), ``measure``, ``reset``,
  ``barrier``, ``gphase`` and ``delay``. Loops, branches, subroutines, aliases,
  ``pow`` modifiers, classical variables and pragmas are refused with a message:
  qjax circuits have none of them;
- the qubits it declares (and the ``$n`` it names) fit ``max_qubits``;
- the operations it expands to fit ``max_operations``: a gate definition costs the
  sum of its body's calls, a built-in gate what qjax's converter turns it into
  (:data:`STANDARD_GATE_OPERATIONS`), a call on whole registers that cost times the
  register size (broadcasting), a controlled call that cost times
  :data:`CONTROL_FACTOR`; every definition must fit too, used or not, because
  Qiskit builds modified definitions while it parses;
- calls of gates that qjax's converter must decompose (user-defined gates, standard
  gates outside qjax's table) fit ``max_gate_calls``: each costs a Qiskit
  decomposition or operator comparison (1-4 ms measured here), far more than a
  table gate;
- it declares at most ``max_params`` inputs, and no expression nests deeper than
  ``max_nesting`` brackets (Qiskit's expression parsers recurse).

The reading is strict on purpose: a program it cannot bound is refused, never
passed on. Messages name the line, the construct and the limit; they never quote
anything but the request.
"""

from __future__ import annotations

import re
from typing import NamedTuple, NoReturn

from qjax.interop.qiskit import STANDARD_INCLUDES, qasm_version

__all__ = ["QasmRefused", "QasmShape", "bound_program", "STANDARD_GATE_OPERATIONS", "CONTROL_FACTOR"]

#: Operations qjax's converter makes of one call of each standard gate (``qelib1.inc``, Qiskit's legacy
#: OpenQASM 2 set, ``stdgates.inc`` and the built-ins ``U``, ``CX``, ``gphase``), measured with Qiskit 2.6:
#: gates in qjax's table stay one operation; the others are decomposed (tests check every entry).
STANDARD_GATE_OPERATIONS = {
    **dict.fromkeys(
        (
            "U",
            "CX",
            "u",
            "u1",
            "u3",
            "p",
            "phase",
            "id",
            "x",
            "y",
            "z",
            "h",
            "s",
            "sdg",
            "t",
            "tdg",
            "sx",
            "rx",
            "ry",
            "rz",
            "cx",
            "cy",
            "cz",
            "swap",
            "ccx",
            "cswap",
            "crx",
            "cry",
            "crz",
            "cu1",
            "cp",
            "cphase",
            "rxx",
            "rzz",
            "gphase",
        ),
        1,
    ),
    "u2": 1,
    "u0": 1,
    "sxdg": 1,
    "delay": 1,
    "cu3": 6,
    "ch": 7,
    "csx": 7,
    "cu": 7,
    "rccx": 9,
    "rc3x": 18,
    "c3sqrtx": 27,
    "c3x": 31,
    "c4x": 69,
}
#: Standard gates the converter decomposes with Qiskit (each call counts against ``max_gate_calls``).
_DECOMPOSED = frozenset({"u2", "u0", "sxdg", "cu3", "ch", "csx", "cu", "rccx", "rc3x", "c3sqrtx", "c3x", "c4x"})
#: Operations per operation of the base gate when a call carries 1 or 2 controls (``ctrl @``, ``negctrl @``):
#: measured worst cases over the basis gates were 31 (1 control) and 340 (2 controls, ``cswap``).
CONTROL_FACTOR = {0: 1, 1: 64, 2: 512}
_MAX_CONTROLS = 2


# One token at a time. Block comments (OpenQASM 3 only: Qiskit's OpenQASM 2 lexer reads "/*" as two operators)
# are skipped by str.find in _tokenize: a lazy ".*?" regex rescans the rest of the source at every unclosed "/*".
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<comment>//[^\n]*)
  | (?P<string>"[^"\r\n]*"|'[^'\r\n]*')
  | (?P<number>(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?[A-Za-zµ]*)
  | (?P<physical>\$\d+)
  | (?P<name>[^\W\d]\w*)
  | (?P<op>\*\*|<<|>>|->|==|!=|<=|>=|&&|\|\||\+\+|[-+*/%^&|~!<>=@(){}\[\];:,.])
  | (?P<other>.)
""",
    re.X | re.S,
)

# Statements refused with a reason of their own (anything else unknown gets the general one).
_REFUSED = {
    **dict.fromkeys(
        ("for", "while", "if", "else", "switch", "break", "continue", "end", "return"),
        "classical control flow: qjax circuits have none; unroll loops and drop branches",
    ),
    **dict.fromkeys(
        ("def", "extern", "defcal", "cal", "defcalgrammar"),
        "subroutines and calibrations: inline them as gate definitions",
    ),
    "let": "aliases: name the qubits directly",
    "box": "boxes: write their contents without the box",
    **dict.fromkeys(
        ("const", "int", "uint", "float", "angle", "bool", "complex", "duration", "stretch", "array", "output"),
        "classical variables: write the values as numbers",
    ),
    **dict.fromkeys(("pragma", "#", "@"), "pragmas and annotations: remove them"),
}
_GENERAL = (
    "the service's OpenQASM reader accepts declarations, gate definitions and gate calls, measure, reset, "
    "barrier, gphase and delay"
)


class QasmRefused(Exception):
    """A program the service does not parse: ``message`` says why and what to change; ``status`` is 413 for a
    size limit, 422 otherwise."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.message, self.status = message, status


class QasmShape(NamedTuple):
    """What :func:`bound_program` found: the dialect and upper bounds of what the parser will build."""

    version: int
    qubits: int
    operations: int
    gate_calls: int
    inputs: int


class _Token(NamedTuple):
    kind: str
    text: str
    line: int


def _tokenize(text: str, version: int) -> list[_Token]:
    tokens, line, pos = [], 1, 0
    while pos < len(text):
        if version == 3 and text.startswith("/*", pos):
            end = text.find("*/", pos + 2)
            if end < 0:
                raise QasmRefused(f"line {line}: a /* comment is never closed; close it with */")
            line += text.count("\n", pos, end)
            pos = end + 2
            continue
        m = _TOKEN.match(text, pos)
        assert m is not None and m.lastgroup is not None, "_TOKEN ends in a one-character catch-all"
        kind, pos = m.lastgroup, m.end()
        if kind not in ("space", "comment"):
            tokens.append(_Token(kind, m.group(), line))
        line += m.group().count("\n")
    return tokens


class _Reader:
    """Walks a token list statement by statement, keeping the running bounds."""

    def __init__(
        self,
        tokens: list[_Token],
        version: int,
        *,
        max_qubits: int,
        max_operations: int,
        max_gate_calls: int,
        max_params: int,
        max_nesting: int,
    ):
        self.tokens, self.pos, self.version = tokens, 0, version
        self.max_qubits, self.max_operations, self.max_gate_calls = max_qubits, max_operations, max_gate_calls
        self.max_params, self.max_nesting = max_params, max_nesting
        self.registers: dict[str, int] = {}  # quantum registers by name: size
        self.gates: dict[str, int] = {}  # user-defined gates: operations one call expands to
        self.qubits = self.clbits = self.operations = self.gate_calls = self.inputs = 0

    # -- tokens ----------------------------------------------------------------------

    def peek(self, ahead: int = 0) -> _Token | None:
        k = self.pos + ahead
        return self.tokens[k] if k < len(self.tokens) else None

    def line(self) -> int:
        token = self.peek() or (self.tokens[-1] if self.tokens else None)
        return token.line if token else 1

    def refuse(self, message: str, status: int = 422) -> NoReturn:
        raise QasmRefused(f"line {self.line()}: {message}", status)

    def take(self, text: str | None = None, kind: str | None = None) -> _Token:
        token = self.peek()
        if token is None or (text is not None and token.text != text) or (kind is not None and token.kind != kind):
            want = repr(text) if text is not None else (kind or "more")
            self.refuse(
                f"expected {want} here; fix the statement" if token else f"the program ends early; expected {want}"
            )
        self.pos += 1
        return token

    def accept(self, text: str) -> bool:
        token = self.peek()
        if token is not None and token.text == text and token.kind in ("op", "name"):
            self.pos += 1
            return True
        return False

    def balanced(self, opening: str, closing: str) -> list[_Token]:
        """The tokens between an ``opening`` bracket (next) and its match, nesting bounded."""
        self.take(opening)
        depth, inside = 1, list[_Token]()
        while True:
            token = self.take()
            if token.kind == "op" and token.text in "([{":
                depth += 1
                if depth > self.max_nesting:
                    self.refuse(f"brackets nest deeper than {self.max_nesting}; simplify the expression")
            elif token.kind == "op" and token.text in ")]}":
                depth -= 1
                if depth == 0:
                    if token.text != closing:
                        self.refuse(f"{opening!r} closed by {token.text!r}")
                    return inside
            inside.append(token)

    def size(self, what: str) -> int:
        """An ``[n]`` designator: a plain decimal literal."""
        inside = self.balanced("[", "]")
        if len(inside) != 1 or inside[0].kind != "number" or not inside[0].text.isdigit():
            self.refuse(f"the size of a {what} must be a plain integer such as [5]")
        return int(inside[0].text)

    def names(self, end: str) -> list[str]:
        out = [self.take(kind="name").text]
        while self.accept(","):
            out.append(self.take(kind="name").text)
        if not self.next_is(end):
            self.take(end)
        return out

    # -- bounds ----------------------------------------------------------------------

    def add_qubits(self, n: int) -> None:
        self.qubits += n
        if self.qubits > self.max_qubits:
            self.refuse(f"declares {self.qubits} qubits; this service's limit is {self.max_qubits}")

    def add_operations(self, n: int, calls: int = 0) -> None:
        self.operations += n
        self.gate_calls += calls
        if self.operations > self.max_operations:
            self.refuse(
                f"expands to more than {self.max_operations:,} operations (this service's limit, counted "
                "through gate definitions and register broadcasts); split the circuit or send fewer gates",
                413,
            )
        if self.gate_calls > self.max_gate_calls:
            self.refuse(
                f"calls gates that need decomposing (user-defined gates, standard gates outside qjax's "
                f"table) more than {self.max_gate_calls:,} times; this service's limit keeps conversion time "
                "bounded; inline the definitions or send the circuit in the qjax.circuit format",
                413,
            )

    # -- statements ----------------------------------------------------------------------

    def program(self) -> None:
        if self.next_is("OPENQASM"):
            self.take()
            self.take(kind="number")
            self.take(";")
        while self.peek() is not None:
            self.statement()

    def statement(self) -> None:
        token = self.peek()
        assert token is not None, "called while tokens remain"
        word = token.text
        if token.kind != "name":
            self.refuse(_REFUSED.get(word) or f"unexpected {word[:20]!r}; {_GENERAL}")
        if word == "include":
            self.include()
        elif word in ("qreg", "creg"):
            self.take()
            name = self.take(kind="name").text
            self.register(word == "qreg", name, self.size("register"))
            self.take(";")
        elif word in ("qubit", "bit") and self.version == 3:
            self.declaration(word)
        elif word == "input" and self.version == 3:
            self.input()
        elif word == "gate":
            self.gate_definition()
        elif word == "opaque" and self.version == 2:
            self.opaque()
        elif word == "measure":
            self.take()
            self.add_operations(self.qarg())
            if self.version == 2 or self.next_is("->"):
                self.take("->")
                self.qarg()
            self.take(";")
        elif word in ("reset", "barrier", "delay") and (word != "delay" or self.version == 3):
            self.take()
            if word == "delay":
                self.balanced("[", "]")
            widths = [] if self.next_is(";") else self.qargs()
            self.add_operations(1 if word == "barrier" or not widths else sum(widths))
            self.take(";")
        elif word in _REFUSED:
            self.refuse(_REFUSED[word])
        elif self.version == 3 and self.assignment_ahead():
            self.measure_assignment()
        else:
            self.add_operations(*self.call(top_level=True))

    def next_is(self, text: str, ahead: int = 0) -> bool:
        token = self.peek(ahead)
        return token is not None and token.text == text and token.kind in ("op", "name")

    def register(self, quantum: bool, name: str, size: int) -> None:
        if quantum:
            self.add_qubits(size)
            self.registers[name] = size
        else:
            self.add_clbits(size)

    def opaque(self) -> None:
        self.take("opaque")
        name = self.take(kind="name").text
        if self.next_is("("):
            self.balanced("(", ")")
        self.names(";")
        self.take(";")
        self.gates[name] = 1

    def include(self) -> None:
        self.take("include")
        name = self.take(kind="string").text[1:-1]
        if name != STANDARD_INCLUDES[self.version]:
            self.refuse(
                f"only the standard library may be included ({STANDARD_INCLUDES[self.version]!r} in OpenQASM "
                f"{self.version}); this service reads no other file: paste the definitions you need into "
                "the program"
            )
        self.take(";")

    def add_clbits(self, n: int) -> None:
        self.clbits += n
        if self.clbits > self.max_operations:  # bits cost memory only; measurements are dropped anyway
            self.refuse(f"declares {self.clbits} classical bits; this service's limit is {self.max_operations}")

    def declaration(self, word: str) -> None:
        self.take()
        n = self.size(word) if self.next_is("[") else 1
        name = self.take(kind="name").text
        self.register(word == "qubit", name, n)
        if word == "bit" and self.accept("="):
            self.take("measure")
            self.add_operations(self.qarg())
        self.take(";")

    def input(self) -> None:
        self.take()
        kind = self.take(kind="name").text
        if kind not in ("float", "angle"):
            self.refuse("inputs must be 'float' or 'angle' (they are the circuit's parameters)")
        if self.next_is("["):
            self.size(kind)
        self.take(kind="name")
        self.take(";")
        self.inputs += 1
        if self.inputs > self.max_params:
            self.refuse(f"declares more than {self.max_params:,} inputs (parameters); this service's limit", 413)

    def assignment_ahead(self) -> bool:
        """``c = measure q;`` or ``c[0] = measure q[0];`` (OpenQASM 3)."""

        def text(k: int) -> str | None:
            token = self.peek(k)
            return None if token is None else token.text

        k = 1
        if text(k) == "[":
            depth = 0
            while (word := text(k)) is not None:
                depth += {"[": 1, "]": -1}.get(word, 0)
                k += 1
                if depth == 0:
                    break
        return text(k) == "="

    def measure_assignment(self) -> None:
        self.take(kind="name")
        if self.next_is("["):
            self.balanced("[", "]")
        self.take("=")
        self.take("measure")
        self.add_operations(self.qarg())
        self.take(";")

    def gate_definition(self) -> None:
        self.take("gate")
        name = self.take(kind="name").text
        if self.next_is("("):
            self.balanced("(", ")")
        self.names("{")
        self.take("{")
        cost = 0
        while not self.accept("}"):
            if self.peek() is None:
                self.take("}")
            if self.next_is("barrier"):
                self.take()
                self.qargs()
                self.take(";")
                continue
            ops, _ = self.call(top_level=False)
            cost += ops
            if cost > self.max_operations:
                self.refuse(
                    f"gate {name[:40]!r} expands to more than {self.max_operations:,} operations (this "
                    "service's limit); define it with fewer nested calls",
                    413,
                )
        self.gates[name] = max(cost, 1)

    def call(self, *, top_level: bool) -> tuple[int, int]:
        """A gate call with its modifiers: ``(operations, decomposed calls)`` it adds."""
        controls = 0
        while (
            self.version == 3
            and any(self.next_is(m) for m in ("inv", "pow", "ctrl", "negctrl"))
            and (self.next_is("@", 1) or self.next_is("(", 1))
        ):
            modifier = self.take().text
            if modifier == "pow":
                self.refuse(
                    "'pow' modifiers are not accepted (Qiskit turns them into matrix powers); repeat the gate instead"
                )
            if modifier in ("ctrl", "negctrl"):
                count = 1
                if self.next_is("("):
                    inside = self.balanced("(", ")")
                    if len(inside) != 1 or not inside[0].text.isdigit():
                        self.refuse(f"the control count of {modifier} must be a plain integer")
                    count = int(inside[0].text)
                controls += count
                if controls > _MAX_CONTROLS:
                    self.refuse(
                        f"at most {_MAX_CONTROLS} controls by modifiers; define the controlled gate with "
                        "a gate definition"
                    )
            self.take("@")
        token = self.take()
        if token.kind != "name":
            self.refuse(f"unexpected {token.text[:20]!r}; {_GENERAL}")
        name = token.text
        if name in _REFUSED:
            self.pos -= 1
            self.refuse(_REFUSED[name])
        if self.next_is("("):
            self.balanced("(", ")")
        widths = [] if self.next_is(";") else self.qargs()
        self.take(";")
        if name == "gphase" and not widths:
            widths = [1]
        if not widths:
            self.refuse(f"gate {name[:40]!r} is called on no qubits")
        base = self.gates.get(name, STANDARD_GATE_OPERATIONS.get(name, 1))
        width = max(widths) if top_level else 1
        decomposed = name in self.gates or name in _DECOMPOSED or controls > 0
        return base * CONTROL_FACTOR[controls] * width, (width if decomposed else 0)

    def qargs(self) -> list[int]:
        widths = [self.qarg()]
        while self.accept(","):
            widths.append(self.qarg())
        return widths

    def qarg(self) -> int:
        """One qubit argument; how many qubits it stands for (a whole register broadcasts)."""
        token = self.take()
        if token.kind == "physical":
            if int(token.text[1:]) >= self.max_qubits:
                self.pos -= 1
                self.refuse(f"names qubit {token.text[:12]}; this service's limit is {self.max_qubits} qubits")
            return 1
        if token.kind != "name":
            self.pos -= 1
            self.refuse(f"expected a qubit here, got {token.text[:20]!r}")
        size = self.registers.get(token.text, 1)
        if not self.next_is("["):
            return size
        inside = self.balanced("[", "]")
        if any(t.text in (":", ",", "{") for t in inside):
            return size  # a slice or a set: at most the register
        return 1


def bound_program(
    text: str, *, max_qubits: int, max_operations: int, max_gate_calls: int, max_params: int, max_nesting: int = 64
) -> QasmShape:
    """Read ``text`` without expanding it; :class:`QasmRefused` unless it fits the limits (module docstring)."""
    version = qasm_version(text)
    if version not in STANDARD_INCLUDES:
        raise QasmRefused(f"OPENQASM {version} is not supported; use OpenQASM 2 or 3")
    reader = _Reader(
        _tokenize(text, version),
        version,
        max_qubits=max_qubits,
        max_operations=max_operations,
        max_gate_calls=max_gate_calls,
        max_params=max_params,
        max_nesting=max_nesting,
    )
    reader.program()
    return QasmShape(version, reader.qubits, reader.operations, reader.gate_calls, reader.inputs)
