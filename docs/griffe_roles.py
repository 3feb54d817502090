"""Griffe extension for the API reference: read qjax's reStructuredText habits as Markdown.

qjax's docstrings are Google style (``Args:``, ``Returns:``) but name other objects with
Sphinx roles (``:class:`~qjax.ir.circuit.Circuit```, ``:func:`compile```) and introduce
examples with ``::``. Markdown shows a role as a stray ``:class:`` before the code, so this
extension rewrites each role as an *optional* cross-reference: a link where the target is
documented on the site, plain code where it is not (an optional reference never fails
``mkdocs build --strict``). ``Example::`` becomes ``Example:``; the indented block after it
is already a Markdown code block.
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

# :role:`target`, :role:`~target`, :role:`title <target>`; roles as Sphinx's Python domain
# names them (optionally prefixed with py:).
_ROLE = re.compile(r":(?:py:)?(class|func|meth|mod|attr|data|exc|obj|const):`([^`]+)`")
_LITERAL = re.compile(r"(\S)::[ \t]*$", re.MULTILINE)


def _identifier(obj: griffe.Object, target: str) -> str | None:
    """The full path ``target`` names as seen from ``obj``'s scope, or None."""
    target = target.lstrip(".")
    head, _, rest = target.partition(".")
    if head == "qjax":
        return target
    scope: griffe.Object | None = obj if obj.is_module or obj.is_class else obj.parent
    while scope is not None:
        try:
            path = scope.resolve(head)
        except Exception:  # griffe raises NameResolutionError, or fails on odd scopes
            path = None
        if path:
            return f"{path}.{rest}" if rest else path
        scope = scope.parent
    return None


def _rewrite(obj: griffe.Object, text: str) -> str:
    def role(match: re.Match) -> str:
        body = match.group(2).strip()
        explicit = re.fullmatch(r"(.+?)\s*<([^>]+)>", body)
        if explicit:
            title, target = explicit.group(1), explicit.group(2)
        else:
            target = body.lstrip("~").rstrip("()")
            title = target.rsplit(".", 1)[-1] if body.startswith("~") else target
            if body.endswith("()") or match.group(1) in ("func", "meth"):
                title += "()" if not title.endswith("()") else ""
        code = f"<code>{html.escape(title)}</code>"
        identifier = _identifier(obj, target)
        if identifier is None:
            return code
        return f'<autoref identifier="{html.escape(identifier)}" optional>{code}</autoref>'

    return _LITERAL.sub(r"\1:", _ROLE.sub(role, text))


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles and ``::`` in every docstring once the tree is loaded."""

    def on_object(self, *, obj: griffe.Object, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        if not obj.is_alias and obj.docstring is not None:
            obj.docstring.value = _rewrite(obj, obj.docstring.value)

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        # on_object visits every object below a package but not the package itself
        if pkg.docstring is not None:
            pkg.docstring.value = _rewrite(pkg, pkg.docstring.value)
