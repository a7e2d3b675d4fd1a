"""The Python checks of the code reviewer, on the ``ast`` of the code.

* PY001 syntax error: ``ast.parse`` fails; the finding has the SyntaxError's line
  (the first NUL byte's line for NUL bytes, line 1 for code nested too deeply).
  Nothing else is checked then.
* PY002 bare except: an ``except:`` clause without an exception type.
* PY003 mutable default: a parameter default that is a list/dict/set display or
  comprehension, or a call of ``list``/``dict``/``set``/``bytearray``/
  ``collections.defaultdict``/``OrderedDict``/``deque``.
* PY004 eval/exec: a call of the builtin ``eval`` or ``exec``.
* PY005 long function: a ``def``/``async def`` spanning more than
  ``max_function_lines`` lines (from ``def`` to its last line, decorators excluded).
* PY006 unused import: an imported name that no ``Name`` node, string (forward
  annotation) or ``__all__`` entry mentions. Not checked: ``__future__`` imports,
  ``import x as x`` re-exports, star imports, imports inside ``try`` (optional
  dependencies) and files named ``__init__.py``.
"""

from __future__ import annotations

import ast
import re
import warnings

from tasks.agents.code_review.lint_rules import RawFinding

_MUTABLE_NODES = (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)
_MUTABLE_CALLS = frozenset(
    {"list", "dict", "set", "bytearray", "defaultdict", "OrderedDict", "deque", "Counter"}
)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse(code: str) -> ast.Module | RawFinding:
    """The module's tree, or the PY001 finding of why it does not parse."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarnings are not findings
            return ast.parse(code)
    except (SyntaxError, ValueError) as exc:  # ValueError: NUL bytes on some versions
        line = getattr(exc, "lineno", None)
        if line is None:
            line = code.count("\n", 0, max(0, code.find("\0"))) + 1 if "\0" in code else 1
        detail = getattr(exc, "msg", None) or str(exc) or "invalid syntax"
        return RawFinding(line, "PY001", f"syntax error: {detail}")
    except (RecursionError, MemoryError):
        return RawFinding(1, "PY001", "syntax error: the code is nested too deeply to parse")


def _call_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name):
            return func.id
        if isinstance(func, ast.Attribute):
            return func.attr
    return None


def _is_mutable(node: ast.expr) -> bool:
    return isinstance(node, _MUTABLE_NODES) or _call_name(node) in _MUTABLE_CALLS


def _function_findings(
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, max_lines: int
) -> list[RawFinding]:
    findings: list[RawFinding] = []
    name = node.name if not isinstance(node, ast.Lambda) else "<lambda>"
    defaults = [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]
    for default in defaults:
        if _is_mutable(default):
            findings.append(
                RawFinding(
                    default.lineno,
                    "PY003",
                    f"mutable default argument in `{name}`: it is shared by every call",
                )
            )
    if not isinstance(node, ast.Lambda):
        length = (node.end_lineno or node.lineno) - node.lineno + 1
        if length > max_lines:
            findings.append(
                RawFinding(
                    node.lineno,
                    "PY005",
                    f"function `{name}` is {length} lines long (limit {max_lines})",
                )
            )
    return findings


def _node_findings(tree: ast.Module, max_lines: int) -> list[RawFinding]:
    findings: list[RawFinding] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ExceptHandler) and node.type is None:
            findings.append(
                RawFinding(node.lineno, "PY002", "bare `except:` also catches KeyboardInterrupt")
            )
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            findings.extend(_function_findings(node, max_lines))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("eval", "exec")
        ):
            findings.append(
                RawFinding(
                    node.lineno,
                    "PY004",
                    f"`{node.func.id}()` runs arbitrary code",
                )
            )
    return findings


def _imports_in_try(tree: ast.Module) -> set[int]:
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try | ast.TryStar):
            for child in node.body:
                inside.update(id(n) for n in ast.walk(child))
    return inside


def _used_names(tree: ast.Module) -> set[str]:
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            used.add(node.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            used.update(_WORD.findall(node.value))  # forward references, __all__
    return used


def _unused_imports(tree: ast.Module) -> list[RawFinding]:
    skip, used = _imports_in_try(tree), _used_names(tree)
    findings: list[RawFinding] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom) or id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        for alias in node.names:
            if alias.name == "*" or (alias.asname is not None and alias.asname == alias.name):
                continue
            bound = alias.asname or alias.name.split(".")[0]
            if bound not in used:
                findings.append(
                    RawFinding(node.lineno, "PY006", f"`{bound}` is imported but never used")
                )
    return findings


def check_python(
    code: str, max_function_lines: int = 60, filename: str | None = None
) -> tuple[list[RawFinding], bool]:
    """The Python findings of ``code`` and whether every check ran (no syntax error)."""
    tree = parse(code)
    if isinstance(tree, RawFinding):
        return [tree], False
    findings = _node_findings(tree, max_function_lines)
    if not (filename or "").replace("\\", "/").endswith("__init__.py"):
        findings.extend(_unused_imports(tree))
    return findings, True
