"""The Luau checks of the code reviewer, on tokens (see ``luau_lex``), in one pass.

A stack of open constructs (``luau_structure``) follows the code: blocks
(``function``, ``if``, ``for``, ``while``, ``do``, ``repeat``, Luau if-expressions)
and brackets. Each block carries the names declared ``local`` in it (locals,
``local function``, parameters, loop variables), so every assignment is checked
against the scopes open at that point.

* LUAU001 syntax: lexical problems first (unterminated string or long comment,
  unexpected character), all reported; otherwise the first structural problem: an
  ``end``/``until``/closing bracket that matches nothing or the wrong opener, a
  ``then``/``else``/``elseif``/``do`` out of place, or a construct still open at the
  end of the code. A missing ``end`` is located with the indentation: the first
  ``end`` indented less than the block it closes points at the block that lacks one.
  On a syntax error only syntax findings are reported (the other checks need a
  well-formed structure).
* LUAU002 deprecated API: calls of the globals in ``DEPRECATED_GLOBALS`` (unless
  shadowed by a local), of the lower-case methods in ``DEPRECATED_METHODS``, and
  ``Instance.new(class, parent)`` (set Parent last instead).
* LUAU003 implicit global: the first assignment (``=`` or compound) or ``function
  name()`` of a plain name that no open scope declares and that is not a known
  Roblox/Luau global; one finding per name.
* LUAU004 loop without yield: ``while true do`` or ``repeat ... until false/nil``
  whose body neither yields (``task.wait``, ``wait``, ``coroutine.yield``,
  ``:Wait()``, ``:Invoke*()``, ``:*Async()``) nor leaves (``break``, ``return``);
  and busy-waits: a ``while``/``repeat`` loop with an empty body.
* LUAU005 unchecked remote input: in a function connected to ``OnServerEvent``
  (``:Connect``/``:Once``/``:ConnectParallel``, inline or by name) or assigned to
  ``OnServerInvoke``, every argument after ``player`` that is used on a line before
  its first check - an argument of ``typeof``/``type``/``tonumber``/``assert`` or
  of a function named like a validator (valid, check, verify, sanitize).
* LUAU006 long function: a function spanning more than ``max_function_lines`` lines.
"""

from __future__ import annotations

from tasks.agents.code_review.lint_rules import RawFinding
from tasks.agents.luau.lex import Token, tokenize
from tasks.agents.luau.names import (
    ASYNC_METHOD,
    CONNECT_METHODS,
    DEPRECATED_GLOBALS,
    DEPRECATED_METHODS,
    KNOWN_GLOBALS,
    YIELDING_METHODS,
)
from tasks.agents.luau.remote import FunctionInfo, check_remote_handlers
from tasks.agents.luau.structure import BLOCKS, CLOSERS, BlockTracker, LuauReport


class _Checker(BlockTracker):
    """The block tracker plus the checks of functions, names and assignments."""

    # -- functions -----------------------------------------------------------------
    def kw_function(self, i: int, tok: Token) -> None:
        prev, j = self.tok(i - 1), i + 1
        name, method, remote = "anonymous function", False, None
        if prev.text == "local" and self.tok(j).kind == "name":
            name = self.tok(j).text
            self.scope().names.add(name)
            j += 1
        elif self.tok(j).kind == "name":
            parts = [self.tok(j).text]
            j += 1
            while self.tok(j).text in (".", ":") and self.tok(j + 1).kind == "name":
                method = method or self.tok(j).text == ":"
                parts.append(self.tok(j + 1).text)
                j += 2
            name = ".".join(parts)
            if len(parts) == 1 and not (prev.kind == "name" and prev.text == "type"):
                self.global_assignment(self.tok(i + 1), function=True)
        else:
            remote = self.remote_callback(i)
            if prev.text == "=" and self.tok(i - 2).kind == "name":
                name = self.tok(i - 2).text
        params, body_start = self.params(j)
        frame = self.push_block("function", i)
        frame.names.update(params)
        if method:
            frame.names.add("self")
        frame.func = FunctionInfo(name, tok.line, params, body_start, remote)
        self.functions.append(frame.func)

    def remote_callback(self, i: int) -> str | None:
        """The remote callback an anonymous function at ``i`` is passed to, if any."""
        before = [self.tok(i - k).text for k in range(1, 5)]
        if (
            before[0] == "("
            and before[1] in CONNECT_METHODS
            and before[2:] == [":", "OnServerEvent"]
        ):
            return "OnServerEvent"
        if before[:2] == ["=", "OnServerInvoke"]:
            return "OnServerInvoke"
        return None

    def params(self, j: int) -> tuple[list[str], int]:
        """Parameter names of the list at ``j`` (after generics) and the body's first index."""
        if self.tok(j).text == "<":
            j = self.skip_group(j, "<", ">")
        if self.tok(j).text != "(":
            return [], j
        params: list[str] = []
        k, expect_name = j + 1, True
        while k < len(self.tokens) and self.tokens[k].text != ")":
            tok = self.tokens[k]
            if expect_name and (tok.kind == "name" or tok.text == "..."):
                params.append(tok.text)
                k, expect_name = self.skip_annotation(k + 1), False
                continue
            expect_name = tok.text == ","
            k += 1
        return params, k + 1

    def close_function(self, info: FunctionInfo, i: int, tok: Token) -> None:
        info.end_index, info.end_line = i, tok.line
        length = tok.line - info.line + 1
        if length > self.max_lines:
            self.add(
                info.line,
                "LUAU006",
                f"function `{info.name}` is {length} lines long (limit {self.max_lines})",
            )

    # -- names and assignments -----------------------------------------------------
    def name(self, i: int, tok: Token) -> None:
        prev, nxt, text = self.tok(i - 1), self.tok(i + 1), tok.text
        call = nxt.text in ("(", "{") or nxt.kind == "string"
        if prev.text == ":":
            if call and (text in YIELDING_METHODS or ASYNC_METHOD.match(text)):
                self.mark_loops(yield_=True)
            if call and text in DEPRECATED_METHODS:
                new = DEPRECATED_METHODS[text]
                self.add(
                    tok.line,
                    "LUAU002",
                    f"`:{text}()` is deprecated; use `:{new}()`",
                    f"Replace `:{text}(` with `:{new}(`.",
                )
        elif prev.text == ".":
            self.dotted_name(i, tok)
        elif text in DEPRECATED_GLOBALS and call and prev.text != "function":
            self.deprecated_global(tok)

    def deprecated_global(self, tok: Token) -> None:
        text = tok.text
        if self.declared(text):
            return  # a local of the same name shadows the global
        if text in ("wait", "Wait"):
            self.mark_loops(yield_=True)
        new = DEPRECATED_GLOBALS[text]
        self.add(
            tok.line,
            "LUAU002",
            f"`{text}()` is deprecated; use `{new}()`",
            f"Replace `{text}(` with `{new}(`.",
        )

    def dotted_name(self, i: int, tok: Token) -> None:
        owner, text = self.tok(i - 2).text, tok.text
        ahead = [self.tok(i + k) for k in range(1, 6)]
        if (owner, text) in (("task", "wait"), ("coroutine", "yield")) and ahead[0].text == "(":
            self.mark_loops(yield_=True)
        elif (owner, text) == ("Instance", "new") and ahead[0].text == "(":
            if ahead[1].kind == "string" and ahead[2].text == ",":
                self.add(
                    tok.line,
                    "LUAU002",
                    "`Instance.new(className, parent)`: the parent argument is deprecated",
                    "Create the instance, set its properties, then set `.Parent` last.",
                )
        elif text == "OnServerEvent" and ahead[0].text == ":" and ahead[1].text in CONNECT_METHODS:
            if ahead[2].text == "(" and ahead[3].kind == "name" and ahead[4].text == ")":
                self.remote_names.setdefault(ahead[3].text, "OnServerEvent")
        elif (
            text == "OnServerInvoke"
            and ahead[0].text == "="
            and ahead[1].kind == "name"
            and ahead[2].text not in (".", ":", "(", "[", "{")
        ):
            self.remote_names.setdefault(ahead[1].text, "OnServerInvoke")

    def assignment(self, i: int) -> None:
        if self.stack[-1].kind not in BLOCKS:
            return  # a table field or a named argument
        for target in self.targets(i):
            self.global_assignment(target)

    def global_assignment(self, tok: Token, function: bool = False) -> None:
        name = tok.text
        if name in self.reported_globals or name in KNOWN_GLOBALS or self.declared(name):
            return
        self.reported_globals.add(name)
        what = "function" if function else "variable"
        hint = f"`local function {name}(...)`" if function else f"`local {name} = ...`"
        self.add(
            tok.line,
            "LUAU003",
            f"{what} `{name}` is assigned but never declared `local`: it becomes a global",
            f"Declare it in the scope that uses it: {hint}.",
        )

    def targets(self, i: int) -> list[Token]:
        """The plain-name targets of the assignment whose `=` is at ``i``."""
        names: list[Token] = []
        j = i - 1
        while True:
            start = self.target_start(j)
            if start is None:
                return []
            if start == j and self.tok(j).kind == "name":
                names.append(self.tok(j))
            prev = self.tok(start - 1)
            if prev.text == ",":
                j = start - 2
                continue
            if prev.text in ("local", "for") or (prev.kind == "name" and prev.text == "type"):
                return []  # a declaration, not an assignment
            return names

    def target_start(self, j: int) -> int | None:
        """First index of the assignable expression (name, field, index) ending at ``j``."""
        tok = self.tok(j)
        if tok.kind != "name" and tok.text not in ("]", ")"):
            return None
        while True:
            tok = self.tok(j)
            if tok.text in CLOSERS:
                opener = self.match.get(j)
                if opener is None:
                    return None
                before = self.tok(opener - 1)
                if tok.text == ")" and not (
                    before.kind in ("name", "string") or before.text in CLOSERS
                ):
                    return opener  # a parenthesised prefix expression
                j = opener - 1
            elif tok.kind == "name":
                if self.tok(j - 1).text not in (".", ":"):
                    return j
                j -= 2
            else:
                return None


def check_luau(code: str, max_function_lines: int = 60) -> LuauReport:
    """All Luau findings of ``code`` (see the module docstring)."""
    tokens, issues = tokenize(code)
    if issues:
        return LuauReport([RawFinding(x.line, "LUAU001", x.message) for x in issues], False)
    checker = _Checker(code, tokens, max_function_lines)
    if not checker.run():
        return LuauReport([f for f in checker.findings if f.rule_id == "LUAU001"], False)
    remote = check_remote_handlers(tokens, checker.functions, checker.remote_names)
    return LuauReport(checker.findings + remote, True)
