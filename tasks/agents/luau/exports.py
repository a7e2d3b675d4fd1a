"""Luau literals and the static parse of a ModuleScript's exports (``roblox_testing``).

Helpers of the roblox testing agent, kept apart to keep its module small: the Luau
literal of a JSON value (``luau_string``, ``luau_literal``), the module table of a token
stream (``module_table``) and the functions assigned to it (``parse_exports``, with
``parse_params`` for a parameter list), plus the export and finding models they return.
``tasks.agents.roblox_testing`` re-exports the public names and documents the behaviour.
"""

from __future__ import annotations

import math
import re
from itertools import pairwise
from typing import Any, Literal

from pydantic import BaseModel

from tasks.agents.luau.lex import KEYWORDS, Token

Severity = Literal["error", "warning", "info"]
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # used with fullmatch
_BRACKETS = {"(": ")", "{": "}", "[": "]", "<": ">"}


class Param(BaseModel):
    name: str
    optional: bool


class ExportCoverage(BaseModel):
    """One exported function and how many cases test it."""

    name: str
    method: bool
    line: int
    params: list[Param]
    vararg: bool
    cases: int = 0
    error_cases: int = 0
    covered: bool = False


class Finding(BaseModel):
    severity: Severity
    code: str
    message: str
    case_index: int | None = None
    function: str | None = None
    line: int | None = None


def finding(
    severity: Severity, code: str, message: str, index: int | None = None, **where: Any
) -> Finding:
    """A finding; ``index`` is the case index, ``where`` its function and line."""
    return Finding(severity=severity, code=code, message=message, case_index=index, **where)


# --- Luau literals -------------------------------------------------------------------

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def luau_string(text: str) -> str:
    """A double-quoted Luau string literal (other control characters as ``\\ddd``)."""
    out = (_ESCAPES.get(c, f"\\{ord(c):03d}" if ord(c) < 32 or ord(c) == 127 else c) for c in text)
    return '"' + "".join(out) + '"'


def luau_literal(value: Any) -> str:
    """The Luau literal of a JSON value."""
    if value is None or isinstance(value, bool):
        return {None: "nil", True: "true", False: "false"}[value]
    if isinstance(value, float) and not math.isfinite(value):
        return "0 / 0" if math.isnan(value) else ("math.huge" if value > 0 else "-math.huge")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return luau_string(value)
    if isinstance(value, list):
        return "{" + ", ".join(luau_literal(v) for v in value) + "}"
    keys = [k if IDENT.fullmatch(k) and k not in KEYWORDS else f"[{luau_string(k)}]" for k in value]
    items = (f"{k} = {luau_literal(v)}" for k, v in zip(keys, value.values(), strict=True))
    return "{" + ", ".join(items) + "}"


# --- static parse of the module ------------------------------------------------------


def _matching(tokens: list[Token], start: int) -> int:
    """Index of the token closing the bracket at ``start`` (len(tokens) when unclosed)."""
    depth = 0
    for i in range(start, len(tokens)):
        text = tokens[i].text if tokens[i].kind == "op" else ""
        depth += (text in _BRACKETS) - (text in _BRACKETS.values())
        if depth == 0:
            return i
    return len(tokens)


def parse_params(tokens: list[Token], open_index: int) -> tuple[list[Param], bool]:
    """(parameters, vararg) of the parameter list opening at ``open_index``."""
    groups: list[list[str]] = [[]]
    depth = 0
    for tok in tokens[open_index + 1 : _matching(tokens, open_index)]:
        text = tok.text if tok.kind == "op" else ""
        depth += (text in _BRACKETS) - (text in _BRACKETS.values())
        if text == "," and depth == 0:
            groups.append([])
        else:
            groups[-1].append(tok.text)
    params = [
        Param(
            name=g[0],
            optional=len(g) > 1 and (g[-1] == "?" or ("|", "nil") in set(pairwise(g))),
        )
        for g in groups
        if g and g[0] != "..."
    ]
    return params, any(g[:1] == ["..."] for g in groups)


def _signature(tokens: list[Token], i: int) -> tuple[list[Param], bool] | None:
    """Parameters of a function body at ``i`` (optional generics ``<...>``, then ``(``)."""
    if i < len(tokens) and tokens[i].text == "<":
        i = _matching(tokens, i) + 1
    if i < len(tokens) and tokens[i].text == "(" and tokens[i].kind == "op":
        return parse_params(tokens, i)
    return None


def _dotted(tokens: list[Token], i: int) -> tuple[list[str], bool, int]:
    """(path, method, next index) of the ``.a.b`` / ``:c`` suffix starting at ``i``."""
    path: list[str] = []
    method = False
    while not method and i + 1 < len(tokens) and tokens[i].text in (".", ":"):
        if tokens[i + 1].kind != "name":
            break
        method = tokens[i].text == ":"
        path.append(tokens[i + 1].text)
        i += 2
    return path, method, i


def module_table(tokens: list[Token]) -> tuple[str | None, bool]:
    """(table name, whether it is returned): the final ``return NAME`` (or ``return
    table.freeze(NAME)``), else the only ``local NAME = {``."""
    tail = [t for t in tokens if t.text != ";"][-7:]
    texts = [t.text for t in tail]
    if texts[:5] == ["return", "table", ".", "freeze", "("] and texts[6:] == [")"]:
        tail = [tail[0], tail[5]]
    if len(tail) >= 2 and tail[-2].text == "return" and tail[-1].kind == "name":
        return tail[-1].text, True
    names = {
        tokens[i + 1].text
        for i in range(len(tokens) - 3)
        if tokens[i].text == "local"
        and tokens[i + 1].kind == "name"
        and (tokens[i + 2].text, tokens[i + 3].text) == ("=", "{")
    }
    return (names.pop(), False) if len(names) == 1 else (None, False)


def _definition(
    tokens: list[Token], i: int, table: str, local_functions: dict[str, tuple[list[Param], bool]]
) -> ExportCoverage | None:
    """The export defined by the statement at ``i`` (``function M.x`` / ``M.x = ...``),
    recording ``local function`` signatures on the way."""
    tok = tokens[i]
    if tok.text == "function" and tok.kind == "keyword" and i + 1 < len(tokens):
        head = tokens[i + 1]
        path, method, j = _dotted(tokens, i + 2)
        sig = _signature(tokens, j) if head.kind == "name" else None
        if sig is not None and head.text == table and path:
            return ExportCoverage(
                name=".".join(path), method=method, line=tok.line, params=sig[0], vararg=sig[1]
            )
        if sig is not None and not path and i > 0 and tokens[i - 1].text == "local":
            local_functions[head.text] = sig
        return None
    if tok.text != table or tok.kind != "name" or (i > 0 and tokens[i - 1].text in (".", ":")):
        return None
    path, method, j = _dotted(tokens, i + 1)
    if not path or method or j + 1 >= len(tokens) or tokens[j].text != "=":
        return None
    rhs, sig = tokens[j + 1], None
    if rhs.text == "function" and rhs.kind == "keyword":
        sig = _signature(tokens, j + 2)
    elif rhs.kind == "name" and (j + 2 == len(tokens) or tokens[j + 2].first_on_line):
        sig = local_functions.get(rhs.text)
    if sig is None:
        return None
    return ExportCoverage(
        name=".".join(path), method=False, line=tok.line, params=sig[0], vararg=sig[1]
    )


def parse_exports(tokens: list[Token], table: str) -> tuple[list[ExportCoverage], list[Finding]]:
    """The functions assigned to ``table`` (a redefinition wins) and duplicate findings."""
    local_functions: dict[str, tuple[list[Param], bool]] = {}
    exports: dict[str, ExportCoverage] = {}
    findings: list[Finding] = []
    for i in range(len(tokens)):
        export = _definition(tokens, i, table, local_functions)
        if export is None:
            continue
        if export.name in exports:
            first = exports.pop(export.name).line
            message = f"'{export.name}' is defined at line {first} and again at line {export.line}"
            where: dict[str, Any] = {"function": export.name, "line": export.line}
            findings.append(finding("warning", "duplicate_export", message, **where))
        exports[export.name] = export
    return sorted(exports.values(), key=lambda e: e.line), findings
