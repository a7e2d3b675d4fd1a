"""Block structure of Luau code for the reviewer: a stack of open constructs on tokens.

:class:`BlockTracker` follows blocks (``function``, ``if``, ``for``, ``while``, ``do``,
``repeat``, Luau if-expressions) and brackets token by token. It reports the first
structural syntax error (LUAU001) and stops, keeps the ``local`` names of each open
block, and checks loops when they close (LUAU004). Subclasses add the checks of
names, functions and assignments (see ``luau_lint``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NoReturn

from tasks.agents.code_review.lint_rules import RawFinding
from tasks.agents.luau.lex import COMPOUND_ASSIGN, Token
from tasks.agents.luau.remote import FunctionInfo

BLOCKS = frozenset({"chunk", "function", "if", "for", "while", "do", "repeat"})
LOOPS = frozenset({"for", "while", "repeat"})
CLOSERS = {")": "(", "]": "[", "}": "{"}
_EXPR_KEYWORDS = frozenset({"return", "and", "or", "not", "in", "until", "if", "elseif", "while"})
_NOT_EXPR_OPS = frozenset({")", "]", "}", ";", "..."})
# tokens after `until false` that would make `false` part of a longer condition
_CONTINUES = frozenset({"and", "or", "==", "~=", "..", ".", ":", "(", "["})
_EOF = Token("op", "<eof>", 0, True)


class StopCheck(Exception):
    """The first structural syntax error ends the pass."""


@dataclass(slots=True)
class Frame:
    kind: str  # a block kind, "ifexpr", or an opening bracket
    line: int
    index: int
    awaiting: str | None = None  # "then" or "do" still expected
    names: set[str] = field(default_factory=set)
    infinite: bool = False
    has_yield: bool = False
    has_exit: bool = False
    func: FunctionInfo | None = None


@dataclass(slots=True)
class LuauReport:
    findings: list[RawFinding]
    complete: bool  # False: a syntax error stopped the other checks


class BlockTracker:
    """One pass over the tokens; findings collect in ``findings``, see the module docstring."""

    def __init__(self, code: str, tokens: list[Token], max_function_lines: int) -> None:
        self.tokens = tokens
        self.indents = [
            len(ln.expandtabs(4)) - len(ln.expandtabs(4).lstrip()) for ln in code.split("\n")
        ]
        self.max_lines = max_function_lines
        self.stack: list[Frame] = [Frame("chunk", 1, -1)]
        self.findings: list[RawFinding] = []
        self.functions: list[FunctionInfo] = []
        self.remote_names: dict[str, str] = {}
        self.reported_globals: set[str] = set()
        self.match: dict[int, int] = {}  # closing bracket index -> opening index
        self.expr_keywords: set[int] = set()  # then/else indexes of if-expressions
        self.misindented: tuple[Frame, int] | None = None

    # -- helpers -------------------------------------------------------------------
    def tok(self, i: int) -> Token:
        return self.tokens[i] if 0 <= i < len(self.tokens) else _EOF

    def add(self, line: int, rule_id: str, message: str, hint: str | None = None) -> None:
        self.findings.append(RawFinding(line, rule_id, message, hint))

    def fail(self, line: int, message: str) -> NoReturn:
        self.add(line, "LUAU001", message)
        raise StopCheck

    def scope(self) -> Frame:
        return next(f for f in reversed(self.stack) if f.kind in BLOCKS)

    def declared(self, name: str) -> bool:
        return any(name in f.names for f in self.stack)

    def describe(self, frame: Frame) -> str:
        return f"`{frame.kind}` opened at line {frame.line}"

    # -- the pass ------------------------------------------------------------------
    def run(self) -> bool:
        try:
            for i, tok in enumerate(self.tokens):
                self.step(i, tok)
            self.at_eof()
        except StopCheck:
            return False
        return True

    def step(self, i: int, tok: Token) -> None:
        if tok.kind == "name":
            self.name(i, tok)
        elif tok.kind == "keyword":
            handler = KEYWORD_HANDLERS.get(tok.text)
            if handler is not None:
                handler(self, i, tok)
        elif tok.kind == "op":
            if tok.text in ("(", "[", "{"):
                self.stack.append(Frame(tok.text, tok.line, i))
            elif tok.text in CLOSERS:
                self.close_bracket(i, tok)
            elif tok.text == "=" or tok.text in COMPOUND_ASSIGN:
                self.assignment(i)

    def close_bracket(self, i: int, tok: Token) -> None:
        top = self.stack[-1]
        if top.kind == CLOSERS[tok.text]:
            self.stack.pop()
            self.match[i] = top.index
        elif top.kind in CLOSERS.values():
            self.fail(
                tok.line, f"`{tok.text}` at line {tok.line} does not match {self.describe(top)}"
            )
        elif top.kind == "chunk":
            self.fail(tok.line, f"unexpected `{tok.text}`: no open bracket to close")
        else:
            self.fail(tok.line, f"unexpected `{tok.text}`: {self.describe(top)} is not closed")

    def at_eof(self) -> None:
        if len(self.stack) == 1:
            return
        top = self.stack[-1]
        if self.misindented is not None and top.kind in BLOCKS:
            frame, end_line = self.misindented
            closer = "until" if frame.kind == "repeat" else "end"
            self.fail(
                frame.line,
                f"`{frame.kind}` at line {frame.line} is probably missing its `{closer}` "
                f"(the `{closer}` at line {end_line} is indented like an outer block)",
            )
        if top.kind in CLOSERS.values():
            self.fail(top.line, f"`{top.kind}` opened at line {top.line} is never closed")
        closer = {"repeat": "until", "ifexpr": "else"}.get(top.kind, "end")
        self.fail(top.line, f"{self.describe(top)} is never closed (missing `{closer}`)")

    # -- blocks --------------------------------------------------------------------
    def push_block(self, kind: str, i: int, awaiting: str | None = None) -> Frame:
        frame = Frame(kind, self.tokens[i].line, i, awaiting)
        self.stack.append(frame)
        return frame

    def expect_block_top(self, tok: Token, kinds: tuple[str, ...]) -> Frame:
        top = self.stack[-1]
        if top.kind not in kinds:
            if top.kind in CLOSERS.values():
                self.fail(
                    tok.line, f"`{tok.text}` at line {tok.line}: {self.describe(top)} is not closed"
                )
            self.fail(tok.line, f"`{tok.text}` at line {tok.line} without a matching `{kinds[0]}`")
        return top

    def close_block(self, i: int, tok: Token) -> Frame:
        frame = self.stack.pop()
        end_indent, open_indent = self.indents[tok.line - 1], self.indents[frame.line - 1]
        if tok.first_on_line and end_indent < open_indent and self.misindented is None:
            self.misindented = (frame, tok.line)
        if frame.kind in ("while", "repeat"):
            self.check_loop(frame, i)
        if frame.func is not None:
            self.close_function(frame.func, i, tok)
        return frame

    def kw_end(self, i: int, tok: Token) -> None:
        top = self.stack[-1]
        if top.kind in CLOSERS.values():
            self.fail(tok.line, f"`end` at line {tok.line}: {self.describe(top)} is not closed")
        if top.kind == "chunk":
            self.fail(tok.line, f"unexpected `end` at line {tok.line}: no open block to close")
        if top.kind == "repeat":
            self.fail(tok.line, f"`end` at line {tok.line} but {self.describe(top)} needs `until`")
        if top.kind == "ifexpr":
            self.fail(
                tok.line, f"`end` at line {tok.line}: if-expression at line {top.line} needs `else`"
            )
        if top.awaiting is not None:
            self.fail(tok.line, f"{self.describe(top)} is missing `{top.awaiting}` before `end`")
        self.close_block(i, tok)

    def kw_until(self, i: int, tok: Token) -> None:
        self.expect_block_top(tok, ("repeat",))
        self.close_block(i, tok)

    def kw_if(self, i: int, tok: Token) -> None:
        prev = self.tok(i - 1)
        expression = (
            (prev.kind == "op" and prev.text not in _NOT_EXPR_OPS and prev is not _EOF)
            or (prev.kind == "keyword" and prev.text in _EXPR_KEYWORDS)
            or (prev.kind == "string" and prev.text == "`{")
            or (i - 1) in self.expr_keywords
        )
        self.push_block("ifexpr" if expression else "if", i, "then")

    def kw_then(self, i: int, tok: Token) -> None:
        top = self.expect_block_top(tok, ("if", "ifexpr"))
        if top.awaiting != "then":
            self.fail(tok.line, f"unexpected `then` at line {tok.line}")
        top.awaiting = None
        if top.kind == "ifexpr":
            self.expr_keywords.add(i)

    def kw_elseif(self, i: int, tok: Token) -> None:
        top = self.expect_block_top(tok, ("if", "ifexpr"))
        if top.awaiting is not None:
            self.fail(tok.line, f"{self.describe(top)} is missing `then` before `elseif`")
        top.awaiting = "then"

    def kw_else(self, i: int, tok: Token) -> None:
        top = self.expect_block_top(tok, ("if", "ifexpr"))
        if top.awaiting is not None:
            self.fail(tok.line, f"{self.describe(top)} is missing `then` before `else`")
        if top.kind == "ifexpr":
            self.stack.pop()
            self.expr_keywords.add(i)

    def kw_do(self, i: int, tok: Token) -> None:
        top = self.stack[-1]
        if top.kind in ("for", "while") and top.awaiting == "do":
            top.awaiting = None
        elif top.kind in CLOSERS.values():
            self.fail(tok.line, f"`do` at line {tok.line}: {self.describe(top)} is not closed")
        else:
            self.push_block("do", i)

    def kw_while(self, i: int, tok: Token) -> None:
        frame = self.push_block("while", i, "do")
        frame.infinite = self.tok(i + 1).text == "true" and self.tok(i + 2).text == "do"

    def kw_repeat(self, i: int, tok: Token) -> None:
        self.push_block("repeat", i)

    def kw_for(self, i: int, tok: Token) -> None:
        frame = self.push_block("for", i, "do")
        j = i + 1
        while self.tok(j).kind == "name":
            frame.names.add(self.tok(j).text)
            j = self.skip_annotation(j + 1)
            if self.tok(j).text != ",":
                break
            j += 1

    def kw_local(self, i: int, tok: Token) -> None:
        j = i + 1
        scope = self.scope()
        while self.tok(j).kind == "name":
            scope.names.add(self.tok(j).text)
            j = self.skip_annotation(j + 1)
            if self.tok(j).text != ",":
                break
            j += 1

    def kw_break(self, i: int, tok: Token) -> None:
        for frame in reversed(self.stack):
            if frame.kind in LOOPS:
                frame.has_exit = True
                return
            if frame.kind == "function":
                return

    def kw_return(self, i: int, tok: Token) -> None:
        self.mark_loops(exit_=True)

    def mark_loops(self, exit_: bool = False, yield_: bool = False) -> None:
        for frame in reversed(self.stack):
            if frame.kind == "function":
                return
            if frame.kind in LOOPS:
                frame.has_exit = frame.has_exit or exit_
                frame.has_yield = frame.has_yield or yield_

    def check_loop(self, frame: Frame, close_index: int) -> None:
        if frame.kind == "repeat":
            cond, after = self.tok(close_index + 1), self.tok(close_index + 2)
            frame.infinite = cond.text in ("false", "nil") and after.text not in _CONTINUES
            body_empty = close_index == frame.index + 1
        else:
            body_empty = self.tok(close_index - 1).text == "do"
        if frame.infinite and not (frame.has_yield or frame.has_exit):
            what = "while true do" if frame.kind == "while" else "repeat ... until false"
            self.add(
                frame.line, "LUAU004", f"`{what}` loop never yields or exits: it will hang the game"
            )
        elif body_empty:
            self.add(
                frame.line,
                "LUAU004",
                f"busy-wait: `{frame.kind}` loop with an empty body spins without yielding",
            )

    def skip_annotation(self, j: int) -> int:
        """Index after an optional `: Type` annotation starting at ``j``."""
        return self.skip_type(j + 1) if self.tok(j).text == ":" else j

    def skip_group(self, j: int, opening: str = "([{", closing: str = ")]}") -> int:
        """Index after the bracket group opening at ``j``."""
        depth = 0
        while j < len(self.tokens):
            text = self.tokens[j].text
            depth += (text in opening) - (text in closing)
            j += 1
            if depth <= 0:
                break
        return j

    def skip_type(self, j: int) -> int:
        """Index after the type starting at ``j`` (atoms joined by `|`, `&`, `->`)."""
        while True:
            tok = self.tok(j)
            if tok.text in ("(", "{", "["):
                j = self.skip_group(j)
            elif tok.kind in ("name", "string", "keyword") or tok.text == "...":
                j += 1
                while self.tok(j).text == "." and self.tok(j + 1).kind == "name":
                    j += 2
                if self.tok(j).text == "<":
                    j = self.skip_group(j, "<", ">")
                elif tok.text == "typeof" and self.tok(j).text == "(":
                    j = self.skip_group(j)
            else:
                return j
            while self.tok(j).text == "?":
                j += 1
            if self.tok(j).text not in ("|", "&", "->"):
                return j
            j += 1

    # -- hooks of the subclass -------------------------------------------------------
    def name(self, i: int, tok: Token) -> None:
        """A name token."""

    def assignment(self, i: int) -> None:
        """An `=` or compound assignment operator at ``i``."""

    def kw_function(self, i: int, tok: Token) -> None:
        """A `function` keyword: the subclass pushes the function's frame."""
        self.push_block("function", i)

    def close_function(self, info: FunctionInfo, i: int, tok: Token) -> None:
        """The `end` of a function."""


KEYWORD_HANDLERS: dict[str, Callable[[BlockTracker, int, Token], None]] = {
    "function": lambda tracker, i, tok: tracker.kw_function(i, tok),
    "end": BlockTracker.kw_end,
    "until": BlockTracker.kw_until,
    "if": BlockTracker.kw_if,
    "then": BlockTracker.kw_then,
    "elseif": BlockTracker.kw_elseif,
    "else": BlockTracker.kw_else,
    "do": BlockTracker.kw_do,
    "while": BlockTracker.kw_while,
    "repeat": BlockTracker.kw_repeat,
    "for": BlockTracker.kw_for,
    "local": BlockTracker.kw_local,
    "break": BlockTracker.kw_break,
    "return": BlockTracker.kw_return,
}
