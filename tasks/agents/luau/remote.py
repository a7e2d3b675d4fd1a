"""LUAU005: client arguments of RemoteEvent/RemoteFunction handlers used unchecked.

The server must not trust what a client sends: every argument after ``player`` of
an ``OnServerEvent`` handler or an ``OnServerInvoke`` callback has to be checked
before it is used. An occurrence of the argument counts as a check when it sits (at
any depth) inside a call of ``typeof``, ``type``, ``tonumber`` or ``assert``, or of a
function whose name says it validates (valid, check, verify, sanitize). Any other
occurrence is a use, except a field (``x.arg``), a table key or a reassignment
(``arg = ...``). A finding is reported at the first use that is on a line before
the argument's first check (a use on the same line as the check, such as
``if not amount or typeof(amount) ~= "number" then``, is fine).
"""

from __future__ import annotations

from dataclasses import dataclass

from tasks.agents.code_review.lint_rules import RawFinding
from tasks.agents.luau.lex import Token
from tasks.agents.luau.names import CHECK_FUNCTIONS, VALIDATOR_NAME


@dataclass(slots=True)
class FunctionInfo:
    """A function found by the checker; ``remote`` names the callback it serves."""

    name: str
    line: int
    params: list[str]
    body_start: int
    remote: str | None = None  # "OnServerEvent" or "OnServerInvoke"
    end_index: int = -1
    end_line: int = -1


def _checked_positions(tokens: list[Token], start: int, end: int) -> list[bool]:
    """For each token of ``start:end``: whether it is inside a checking call's parentheses."""
    depth_change = [0] * (end - start + 1)
    opened: list[tuple[int, bool]] = []  # (index of "(", whether it opens a checking call)
    for k in range(start, end):
        text = tokens[k].text
        if text == "(":
            callee = tokens[k - 1]
            checking = callee.kind == "name" and (
                callee.text in CHECK_FUNCTIONS or VALIDATOR_NAME.search(callee.text) is not None
            )
            opened.append((k, checking))
        elif text == ")" and opened:
            open_index, checking = opened.pop()
            if checking:
                depth_change[open_index - start] += 1
                depth_change[k - start] -= 1
    inside: list[bool] = []
    depth = 0
    for change in depth_change[:-1]:
        depth += change
        inside.append(depth > 0)
    return inside


def _is_use(tokens: list[Token], k: int, param: str) -> bool:
    tok = tokens[k]
    if tok.text != param or (tok.kind != "name" and param != "..."):
        return False
    prev = tokens[k - 1].text if k > 0 else ""
    nxt = tokens[k + 1].text if k + 1 < len(tokens) else ""
    return prev not in (".", ":") and nxt != "="


def _check_param(
    tokens: list[Token], info: FunctionInfo, param: str, kind: str, checked: list[bool]
) -> RawFinding | None:
    first_check: int | None = None
    first_use: Token | None = None
    for k in range(info.body_start, info.end_index):
        if not _is_use(tokens, k, param):
            continue
        if checked[k - info.body_start]:
            first_check = tokens[k].line
            break
        if first_use is None:
            first_use = tokens[k]
    if first_use is None or (first_check is not None and first_use.line >= first_check):
        return None
    checked_text = "never type-checked" if first_check is None else "used before its type check"
    return RawFinding(
        first_use.line,
        "LUAU005",
        f"client argument `{param}` of the {kind} handler at line {info.line} is {checked_text}",
        f'Check it first: `if typeof({param}) ~= "number" then return end` '
        "(with the type you expect), then use it.",
    )


def check_remote_handlers(
    tokens: list[Token], functions: list[FunctionInfo], remote_names: dict[str, str]
) -> list[RawFinding]:
    """LUAU005 findings for the remote handlers among ``functions``."""
    findings: list[RawFinding] = []
    for info in functions:
        kind = info.remote or remote_names.get(info.name)
        if kind is None or info.end_index < 0:
            continue
        checked = _checked_positions(tokens, info.body_start, info.end_index)
        for param in info.params[1:]:
            finding = _check_param(tokens, info, param, kind, checked)
            if finding is not None:
                findings.append(finding)
    return findings
