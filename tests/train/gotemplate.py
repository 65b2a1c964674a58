"""A small evaluator of Go's text/template, for checking Ollama TEMPLATEs without Ollama.

It follows Go's rules for what it supports: text and actions, ``{{-``/``-}}`` trimming of
adjacent white space, ``range $i, $v := pipeline``, ``if``/``else if``/``else``/``end``,
variables (``$x := ...``, ``$``, ``$.Field``), field chains, parenthesised pipelines,
quoted strings with Go escapes, integers, and the functions ``eq ne and or not len slice
index print``. Anything else raises, so a template using more cannot pass by accident.
"""

from __future__ import annotations

import json
import re
from typing import Any

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)
_TOKEN = re.compile(r'\s*(\(|\)|"(?:[^"\\]|\\.)*"|:=|,|[$.\w][\w.$]*)')


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"cannot read {text[pos:]!r}")
        out.append(m.group(1))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def _parse(template: str) -> list[tuple[str, str]]:
    """``[("text", s) | ("action", body)]`` with Go's trimming applied."""
    parts: list[tuple[str, str]] = []
    pos = 0
    for m in _ACTION.finditer(template):
        text = template[pos : m.start()]
        if m.group(1):
            text = text.rstrip(" \t\r\n")
        if parts and parts[-1][0] == "trim-next":
            parts.pop()
            text = text.lstrip(" \t\r\n")
        parts.append(("text", text))
        parts.append(("action", m.group(2)))
        if m.group(3):
            parts.append(("trim-next", ""))
        pos = m.end()
    text = template[pos:]
    if parts and parts[-1][0] == "trim-next":
        parts.pop()
        text = text.lstrip(" \t\r\n")
    parts.append(("text", text))
    return [p for p in parts if p[0] != "text" or p[1]]


def _truth(value: Any) -> bool:
    return bool(value)


class _Eval:
    def __init__(self, data: dict[str, Any]) -> None:
        self.root = data

    def field(self, base: Any, chain: list[str]) -> Any:
        for name in chain:
            base = base[name] if isinstance(base, dict) else getattr(base, name)
        return base

    def operand(self, tok: str, vars_: dict[str, Any]) -> Any:
        if tok.startswith('"'):
            return json.loads(tok)
        if re.fullmatch(r"-?\d+", tok):
            return int(tok)
        if tok.startswith("$"):
            head, *chain = tok.split(".")
            return self.field(vars_[head], [c for c in chain if c])
        if tok.startswith("."):
            return self.field(vars_["."], [c for c in tok.split(".") if c])
        raise ValueError(f"unknown operand {tok!r}")

    def command(self, toks: list[str], vars_: dict[str, Any]) -> Any:
        args: list[Any] = []
        i = 0
        fn = None
        if toks and re.fullmatch(r"[a-z]\w*", toks[0]):
            fn, i = toks[0], 1
        while i < len(toks):
            if toks[i] == "(":
                depth, j = 1, i + 1
                while depth:
                    depth += {"(": 1, ")": -1}.get(toks[j], 0)
                    j += 1
                value = self.command(toks[i + 1 : j - 1], vars_)
                i = j
                # a field chain after a parenthesised pipeline: (index $.Messages 0).Role
                if i < len(toks) and toks[i].startswith("."):
                    value = self.field(value, [c for c in toks[i].split(".") if c])
                    i += 1
                args.append(value)
            else:
                args.append(self.operand(toks[i], vars_))
                i += 1
        if fn is None:
            if len(args) != 1:
                raise ValueError(f"not a command: {toks}")
            return args[0]
        return self.call(fn, args)

    def call(self, fn: str, args: list[Any]) -> Any:
        if fn == "eq":
            return any(args[0] == a for a in args[1:])
        if fn == "ne":
            return args[0] != args[1]
        if fn == "and":
            for a in args:
                if not _truth(a):
                    return a
            return args[-1]
        if fn == "or":
            for a in args:
                if _truth(a):
                    return a
            return args[-1]
        if fn == "not":
            return not _truth(args[0])
        if fn == "len":
            return len(args[0])
        if fn == "slice":
            return args[0][args[1] : args[2] if len(args) > 2 else None]
        if fn == "index":
            return args[0][args[1]]
        if fn == "print":  # fmt.Sprint: a space only between two operands that are not strings
            out = ""
            for k, a in enumerate(args):
                if k and not isinstance(a, str) and not isinstance(args[k - 1], str):
                    out += " "
                out += str(a)
            return out
        raise ValueError(f"unknown function {fn!r}")


def render(template: str, messages: list[dict[str, str]]) -> str:
    """Render *template* with Ollama's ``.Messages`` (``Role``/``Content``) as Go would."""
    parts = _parse(template)
    ev = _Eval({"Messages": [{"Role": m["role"], "Content": m["content"]} for m in messages]})
    out: list[str] = []

    def block(i: int, vars_: dict[str, Any], emit: bool) -> tuple[int, str]:
        """Run parts from *i* until an else/end at this level; return (index, closer)."""
        while i < len(parts):
            kind, body = parts[i]
            if kind == "text":
                if emit:
                    out.append(body)
                i += 1
                continue
            toks = _tokens(body)
            head = toks[0] if toks else ""
            if head in {"end", "else"}:
                return i, body.strip()
            if head == "if":
                i = cond(i, toks[1:], vars_, emit)
                continue
            if head == "range":
                i = loop(i, toks[1:], vars_, emit)
                continue
            if len(toks) > 1 and toks[1] == ":=":
                if emit:
                    vars_[toks[0]] = ev.command(toks[2:], vars_)
                i += 1
                continue
            if emit:
                out.append(str(ev.command(toks, vars_)))
            i += 1
        return i, ""

    def cond(i: int, toks: list[str], vars_: dict[str, Any], emit: bool) -> int:
        taken = False
        test = emit and _truth(ev.command(toks, vars_))
        i, closer = block(i + 1, vars_, test)
        taken = test
        while closer.startswith("else"):
            rest = _tokens(closer)[1:]
            if rest and rest[0] == "if":
                test = emit and not taken and _truth(ev.command(rest[1:], vars_))
            else:
                test = emit and not taken
            i, closer = block(i + 1, vars_, test)
            taken = taken or test
        if closer != "end":
            raise ValueError("if without end")
        return i + 1

    def loop(i: int, toks: list[str], vars_: dict[str, Any], emit: bool) -> int:
        if ":=" in toks:
            at = toks.index(":=")
            names = [t for t in toks[:at] if t != ","]
            seq = ev.command(toks[at + 1 :], vars_)
        else:
            names, seq = [], ev.command(toks, vars_)
        end = i + 1
        if not emit or not seq:
            end, closer = block(i + 1, vars_, False)
        else:
            for k, item in enumerate(seq):
                inner = dict(vars_)
                inner["."] = item
                if len(names) == 2:
                    inner[names[0]], inner[names[1]] = k, item
                elif names:
                    inner[names[0]] = item
                end, closer = block(i + 1, inner, True)
        if closer != "end":
            raise ValueError("range without end")
        return end + 1

    root = {"$": ev.root, ".": ev.root}
    _end, closer = block(0, root, True)
    if closer:
        raise ValueError(f"unexpected {{{{{closer}}}}}")
    return "".join(out)
