"""A Luau tokenizer for the code reviewer (no parser: the checks work on tokens).

It knows Luau's lexical grammar: names and keywords, numbers (hex, binary, ``_``
separators, exponents), short strings with escapes (``\\z`` included), long strings
and comments with levels (``[==[ ... ]==]``), interpolated strings (backticks, whose
``{expression}`` parts are tokenized like any code), Luau's compound assignment
operators and type-syntax punctuation. Comments are dropped.

Lexical problems (an unterminated string or long comment, a character that is not
Luau) are returned as :class:`LexIssue` with the line where they start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

TokenKind = Literal["name", "keyword", "number", "string", "op"]

_KEYWORD_TEXT = (
    "and break do else elseif end false for function if in local nil not or repeat "
    "return then true until while"
)
KEYWORDS = frozenset(_KEYWORD_TEXT.split())
_OPERATORS: tuple[str, ...] = (
    "...",
    "..=",
    "//=",
    "==",
    "~=",
    "<=",
    ">=",
    "+=",
    "-=",
    "*=",
    "/=",
    "%=",
    "^=",
    "//",
    "..",
    "::",
    "->",
)
_SINGLE_OPS = frozenset("+-*/%^#&|<>=(){}[];:,.?@")
COMPOUND_ASSIGN = frozenset({"+=", "-=", "*=", "/=", "//=", "%=", "^=", "..="})

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(
    r"0[xX][0-9A-Fa-f_]*|0[bB][01_]*|(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d[\d_]*)?"
)
_SPACE = re.compile(r"[ \t\r\f\v]+")
_LONG_OPEN = re.compile(r"\[(=*)\[")
_SHORT_BODY = {
    '"': re.compile(r'(?:[^"\\\n]|\\z\s*|\\[\s\S])*+"'),
    "'": re.compile(r"(?:[^'\\\n]|\\z\s*|\\[\s\S])*+'"),
}
MAX_ISSUES = 50


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str
    line: int
    first_on_line: bool


@dataclass(frozen=True, slots=True)
class LexIssue:
    line: int
    message: str


class _Lexer:
    def __init__(self, code: str) -> None:
        self.code = code
        self.pos = 0
        self.line = 1
        self.line_started = False
        self.tokens: list[Token] = []
        self.issues: list[LexIssue] = []
        self.interp: list[int] = []  # open brace count per open interpolation `{`
        self.interp_lines: list[int] = []  # the line of each open interpolation

    def emit(self, kind: TokenKind, text: str, line: int) -> None:
        self.tokens.append(Token(kind, text, line, not self.line_started))
        self.line_started = True

    def issue(self, line: int, message: str) -> None:
        if len(self.issues) < MAX_ISSUES:
            self.issues.append(LexIssue(line, message))

    def advance_to(self, end: int) -> None:
        newlines = self.code.count("\n", self.pos, end)
        if newlines:
            self.line += newlines
            self.line_started = False
        self.pos = end

    def run(self) -> None:
        code = self.code
        if code.startswith("\ufeff"):  # a UTF-8 byte order mark
            self.pos = 1
        if code.startswith("#!", self.pos):
            end = code.find("\n", self.pos)
            self.pos = len(code) if end < 0 else end
        while self.pos < len(code):
            char = code[self.pos]
            if char == "\n":
                self.advance_to(self.pos + 1)
            elif char in " \t\r\f\v":
                match = _SPACE.match(code, self.pos)
                assert match is not None
                self.pos = match.end()
            elif code.startswith("--", self.pos):
                self.comment()
            else:
                self.token(char)

    def comment(self) -> None:
        long_open = _LONG_OPEN.match(self.code, self.pos + 2)
        if long_open is None:
            end = self.code.find("\n", self.pos)
            self.pos = len(self.code) if end < 0 else end
            return
        self.long_bracket(long_open, "long comment", emit=False)

    def long_bracket(self, opening: re.Match[str], what: str, emit: bool) -> None:
        start_line = self.line
        close = "]" + opening.group(1) + "]"
        end = self.code.find(close, opening.end())
        if end < 0:
            self.issue(start_line, f"unterminated {what} (opened with {opening.group()!r})")
            self.advance_to(len(self.code))
            return
        if emit:
            self.emit("string", self.code[self.pos : end + len(close)], start_line)
        self.advance_to(end + len(close))

    def token(self, char: str) -> None:
        code, pos = self.code, self.pos
        if char == "[":
            long_open = _LONG_OPEN.match(code, pos)
            if long_open is not None:
                self.long_bracket(long_open, "long string", emit=True)
                return
        if char in _SHORT_BODY:
            self.short_string(char)
            return
        if char == "`":
            self.pos += 1
            self.backtick_part(self.line)
            return
        if char in "{}" and self.interp:
            self.interp_brace(char)
            return
        name = _NAME.match(code, pos)
        if name is not None:
            text = name.group()
            self.emit("keyword" if text in KEYWORDS else "name", text, self.line)
            self.pos = name.end()
            return
        number = _NUMBER.match(code, pos)
        if number is not None:
            self.emit("number", number.group(), self.line)
            self.pos = number.end()
            return
        for op in _OPERATORS:
            if code.startswith(op, pos):
                self.emit("op", op, self.line)
                self.pos += len(op)
                return
        if char in _SINGLE_OPS:
            self.emit("op", char, self.line)
        else:
            self.issue(self.line, f"unexpected character {char!r}")
        self.pos += 1

    def short_string(self, quote: str) -> None:
        body = _SHORT_BODY[quote].match(self.code, self.pos + 1)
        if body is None:
            self.issue(self.line, f"unterminated string (opened with {quote})")
            end = self.code.find("\n", self.pos)
            self.pos = len(self.code) if end < 0 else end
            return
        self.emit("string", self.code[self.pos : body.end()], self.line)
        self.advance_to(body.end())

    def interp_brace(self, char: str) -> None:
        if char == "{":
            self.interp[-1] += 1
            self.emit("op", "{", self.line)
            self.pos += 1
        elif self.interp[-1] > 0:
            self.interp[-1] -= 1
            self.emit("op", "}", self.line)
            self.pos += 1
        else:  # closes an interpolated expression: the string goes on
            self.interp.pop()
            self.interp_lines.pop()
            self.pos += 1
            self.backtick_part(self.line)

    def backtick_part(self, start_line: int) -> None:
        """Scan an interpolated string from ``self.pos`` to its closing backtick or `{`."""
        code, i = self.code, self.pos
        while i < len(code):
            char = code[i]
            if char == "\\":
                i += 2
                continue
            if char == "`":
                self.emit("string", "`", start_line)
                self.advance_to(i + 1)
                return
            if char == "{":
                self.emit("string", "`{", start_line)  # an interpolated expression follows
                self.interp.append(0)
                self.interp_lines.append(start_line)
                self.advance_to(i + 1)
                return
            if char == "\n":
                break
            i += 1
        self.issue(start_line, "unterminated interpolated string (opened with `)")
        self.advance_to(min(i, len(code)))


def tokenize(code: str) -> tuple[list[Token], list[LexIssue]]:
    """The tokens of ``code`` (comments dropped) and its lexical problems."""
    lexer = _Lexer(code)
    lexer.run()
    for line in lexer.interp_lines:
        lexer.issue(line, "unterminated interpolated string expression (missing `}`)")
    return lexer.tokens, lexer.issues
