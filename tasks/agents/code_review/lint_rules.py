"""The code reviewer's rule catalogue, shared by the Luau and Python checkers.

Every rule has a stable id (``LUAU001``... for Luau, ``PY001``... for Python), a
short kebab-case name (either can be used to disable it), a fixed severity and a
default fix hint. Checkers report :class:`RawFinding` objects; the reviewer turns them
into output findings with the rule's severity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning", "info"]
Language = Literal["luau", "python"]

SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")


@dataclass(frozen=True, slots=True)
class Rule:
    rule_id: str
    name: str
    language: Language
    severity: Severity
    summary: str
    fix_hint: str


@dataclass(frozen=True, slots=True)
class RawFinding:
    """One problem found by a checker; ``fix_hint`` None means the rule's default."""

    line: int
    rule_id: str
    message: str
    fix_hint: str | None = None


_RULE_LIST: tuple[Rule, ...] = (
    Rule(
        "LUAU001",
        "syntax-error",
        "luau",
        "error",
        "unbalanced function/if/for/while/do ... end, repeat ... until, bracket, "
        "unterminated string or comment, or an unexpected character",
        "Close every function/if/for/while/do with `end`, every `repeat` with `until`, "
        "every bracket, string and long comment.",
    ),
    Rule(
        "LUAU002",
        "deprecated-api",
        "luau",
        "warning",
        "deprecated Roblox API (wait/spawn/delay, lower-case methods, Instance.new parent)",
        "Use the modern API: task.wait, task.spawn, task.delay, :Connect, :Destroy.",
    ),
    Rule(
        "LUAU003",
        "implicit-global",
        "luau",
        "warning",
        "assignment to a name never declared `local` (and not a Roblox/Luau global)",
        "Declare the variable with `local` in the scope that uses it.",
    ),
    Rule(
        "LUAU004",
        "loop-without-yield",
        "luau",
        "warning",
        "`while true do` / `repeat ... until false` without a yield or exit, or a busy-wait",
        "Yield inside the loop (task.wait(), event:Wait()) or wait on an event instead.",
    ),
    Rule(
        "LUAU005",
        "unchecked-remote-input",
        "luau",
        "warning",
        "OnServerEvent/OnServerInvoke handler uses a client argument before a type check",
        'Check each client argument first, e.g. `if typeof(x) ~= "number" then return end`.',
    ),
    Rule(
        "LUAU006",
        "long-function",
        "luau",
        "info",
        "function longer than max_function_lines",
        "Split the function into smaller, named helper functions.",
    ),
    Rule(
        "PY001",
        "syntax-error",
        "python",
        "error",
        "the code does not parse (ast.parse SyntaxError)",
        "Fix the syntax error at the reported line.",
    ),
    Rule(
        "PY002",
        "bare-except",
        "python",
        "warning",
        "`except:` without an exception type",
        "Catch a specific exception, or at least `except Exception:`.",
    ),
    Rule(
        "PY003",
        "mutable-default",
        "python",
        "warning",
        "mutable default argument (list, dict, set literal or constructor call)",
        "Default to None and create the object inside the function.",
    ),
    Rule(
        "PY004",
        "eval-exec",
        "python",
        "warning",
        "call to eval() or exec()",
        "Avoid eval/exec; parse the data explicitly (e.g. ast.literal_eval, json.loads).",
    ),
    Rule(
        "PY005",
        "long-function",
        "python",
        "info",
        "function longer than max_function_lines",
        "Split the function into smaller, named helper functions.",
    ),
    Rule(
        "PY006",
        "unused-import",
        "python",
        "info",
        "imported name never used in the module",
        "Remove the import (or list the name in __all__ if it is a re-export).",
    ),
)

RULES: dict[str, Rule] = {rule.rule_id: rule for rule in _RULE_LIST}


def resolve_rule(key: str) -> list[str]:
    """Rule ids matching ``key``: an id (any case) or a name (all languages that have it)."""
    wanted = key.strip()
    if wanted.upper() in RULES:
        return [wanted.upper()]
    by_name = [rule.rule_id for rule in _RULE_LIST if rule.name == wanted.lower()]
    if not by_name:
        raise ValueError(
            f"unknown rule {key!r}; known rules: "
            + ", ".join(f"{r.rule_id} ({r.name})" for r in _RULE_LIST)
        )
    return by_name


def rules_for(language: Language) -> list[Rule]:
    return [rule for rule in _RULE_LIST if rule.language == language]
