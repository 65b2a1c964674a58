"""A model's chat template as turn markers, and the Ollama (Go) template equivalent to it.

Ollama renders prompts with Go's ``text/template``, not Jinja, so a Modelfile needs its own
TEMPLATE. :func:`turn_format` reads the markers around each role by rendering the model's
Jinja template over sentinel messages, then checks that the markers reproduce the template
exactly on conversations with and without a system turn, one and two exchanges, and with
the reply opened. :func:`go_template` writes those markers as a Go template; every piece of
literal text is a quoted Go string, so the template's own layout never leaks into prompts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from glimmer.errors import TemplateExportError

__all__ = ["TemplateExportError", "TurnFormat", "go_template", "turn_format"]

Messages = list[dict[str, str]]
Render = Callable[[Messages, bool], str]

_S, _U1, _A1, _U2, _A2 = "\x01SYS\x01", "\x01U1\x01", "\x01A1\x01", "\x01U2\x01", "\x01A2\x01"


@dataclass(frozen=True, slots=True)
class TurnFormat:
    """The text around each message of a chat template.

    Attributes:
        preamble: Text before the first message (a BOS written by the template itself).
        default_system: A system block the template inserts when the chat has none.
        system: ``(prefix, suffix)`` around a system message; ``None`` when the template has
            no system role (the system text then opens the first user message, as in training).
        user: ``(prefix, suffix)`` around a user message.
        assistant: ``(prefix, suffix)`` around an assistant message.
        generation: Text that opens the reply (``add_generation_prompt``).
    """

    preamble: str
    default_system: str
    system: tuple[str, str] | None
    user: tuple[str, str]
    assistant: tuple[str, str]
    generation: str

    def render(self, messages: Sequence[dict[str, str]], *, add_generation_prompt: bool) -> str:
        """The prompt these markers give: what the Jinja template gives for the same chat."""
        msgs = [dict(m) for m in messages]
        if self.system is None and msgs and msgs[0]["role"] == "system":
            system = msgs.pop(0)["content"]
            if msgs and msgs[0]["role"] == "user":
                msgs[0]["content"] = f"{system}\n\n{msgs[0]['content']}"
        out = self.preamble
        if self.default_system and (not msgs or msgs[0]["role"] != "system"):
            out += self.default_system
        for m in msgs:
            wrap = {"system": self.system, "user": self.user, "assistant": self.assistant}[
                m["role"]
            ]
            assert wrap is not None
            out += wrap[0] + m["content"] + wrap[1]
        if add_generation_prompt:
            out += self.generation
        return out


def _between(text: str, *marks: str) -> list[str]:
    """Split *text* at the sentinels *marks*, which must occur once each, in order."""
    parts: list[str] = []
    rest = text
    for mark in marks:
        head, found, rest = rest.partition(mark)
        if not found or mark in rest:
            raise ValueError(mark)
        parts.append(head)
    parts.append(rest)
    return parts


def _strip_prefix(text: str, prefix: str) -> str:
    if not text.startswith(prefix):
        raise ValueError(prefix)
    return text[len(prefix) :]


def _strip_suffix(text: str, suffix: str) -> str:
    if suffix and not text.endswith(suffix):
        raise ValueError(suffix)
    return text[: len(text) - len(suffix)] if suffix else text


def turn_format(render: Render, *, bos: str | None, name: str = "the model") -> TurnFormat:
    """Read the turn markers of a chat template and check them.

    Args:
        render: ``(messages, add_generation_prompt) -> text``: the tokenizer's
            ``apply_chat_template(..., tokenize=False)``.
        bos: The BOS token text, if the template may write it.
        name: The model, for messages.

    Returns:
        The markers; ``render`` and :meth:`TurnFormat.render` agree on every check.

    Raises:
        TemplateExportError: The template formats messages in a way markers cannot express
            (it depends on the content, or on more than the role and position).
    """
    u1, a1, u2, a2 = (
        {"role": "user", "content": _U1},
        {"role": "assistant", "content": _A1},
        {"role": "user", "content": _U2},
        {"role": "assistant", "content": _A2},
    )
    try:
        seg0, seg1, seg2, seg3, tail = _between(render([u1, a1, u2, a2], False), _U1, _A1, _U2, _A2)
        assistant_suffix = tail
        user_prefix = _strip_prefix(seg2, assistant_suffix)
        if seg3 != seg1:
            raise ValueError("turns differ")
        head, user_suffix = _between(render([u1], False), _U1)
        user_suffix_gen = _between(render([u1], True), _U1)[1]
        assistant_prefix = _strip_prefix(seg1, user_suffix)
        generation = _strip_prefix(user_suffix_gen, user_suffix)
        start = _strip_suffix(seg0, user_prefix)
        if head != seg0:
            raise ValueError("first turn differs")
        # a BOS written once before the chat, not a turn marker that happens to be the BOS
        once = bos and start.startswith(bos) and not user_prefix.startswith(bos)
        preamble = bos if once and bos else ""
        default_system = start[len(preamble) :]
        system: tuple[str, str] | None
        try:
            with_system = render([{"role": "system", "content": _S}, u1], False)
        except Exception:  # templates without a system role raise on one
            system = None
        else:
            before, between, _rest = _between(with_system, _S, _U1)
            system = (
                _strip_prefix(before, preamble),
                _strip_suffix(between, user_prefix),
            )
        fmt = TurnFormat(
            preamble=preamble,
            default_system=default_system,
            system=system,
            user=(user_prefix, user_suffix),
            assistant=(assistant_prefix, assistant_suffix),
            generation=generation,
        )
    except ValueError:
        raise TemplateExportError(
            f"the chat template of {name} does not wrap each message in fixed markers, so it "
            "cannot be written as an Ollama TEMPLATE",
            hint="pass modelfile=False (--no-modelfile) and give the chat template to the runtime "
            "yourself; llama.cpp reads it from the GGUF file",
        ) from None
    _check(fmt, render, name)
    return fmt


def _check(fmt: TurnFormat, render: Render, name: str) -> None:
    """Compare the markers with the template on several conversations."""
    chats: list[Messages] = [
        [{"role": "user", "content": "Hi"}],
        [
            {"role": "user", "content": "What is a glimmer?"},
            {"role": "assistant", "content": "A pattern."},
            {"role": "user", "content": "And the weave?"},
        ],
    ]
    if fmt.system is not None:
        chats.append([{"role": "system", "content": "Be brief."}, *chats[1]])
    for chat in chats:
        for gen in (True, False):
            if fmt.render(chat, add_generation_prompt=gen) != render(chat, gen):
                raise TemplateExportError(
                    f"the chat template of {name} formats a conversation differently from its "
                    "turn markers, so it cannot be written as an Ollama TEMPLATE",
                    hint="pass modelfile=False (--no-modelfile); llama.cpp reads the template "
                    "from the GGUF file",
                )


def _lit(text: str) -> str:
    """*text* as a Go template action printing it (a quoted Go string)."""
    return "{{ " + json.dumps(text, ensure_ascii=False) + " }}" if text else ""


def go_template(fmt: TurnFormat) -> str:
    """An Ollama TEMPLATE (Go ``text/template`` over ``.Messages``) giving *fmt*'s prompts.

    Ollama passes the Modelfile's SYSTEM as the first message when a chat has none, so the
    template reads only ``.Messages``. Each action trims the line break before it; literal
    text is printed by quoted strings, so the layout here never reaches the prompt.
    """
    lines = ["{{- range $i, $m := .Messages }}"]
    lines.append("{{- $last := eq (len (slice $.Messages $i)) 1 }}")
    if fmt.preamble:
        lines.append("{{- if eq $i 0 }}" + _lit(fmt.preamble) + "{{ end }}")
    if fmt.default_system:
        lines.append('{{- if and (eq $i 0) (ne $m.Role "system") }}')
        lines.append("{{- " + json.dumps(fmt.default_system, ensure_ascii=False) + " }}")
        lines.append("{{- end }}")
    if fmt.system is not None:
        lines.append('{{- if eq $m.Role "system" }}')
        lines.append("{{- " + _join(fmt.system[0], "$m.Content", fmt.system[1]) + " }}")
        lines.append('{{- else if eq $m.Role "user" }}')
    else:
        lines.append('{{- if eq $m.Role "user" }}')
        lines.append(
            '{{- if and (eq $i 1) (eq (index $.Messages 0).Role "system") }}'
            "{{ " + _join(fmt.user[0], "(index $.Messages 0).Content", '"\\n\\n"') + " }}"
            "{{ $m.Content }}{{ " + _join("", "", fmt.user[1]) + " }}"
        )
        lines.append("{{- else }}")
        lines.append("{{- " + _join(fmt.user[0], "$m.Content", fmt.user[1]) + " }}")
        lines.append("{{- end }}")
    if fmt.system is not None:
        lines.append("{{- " + _join(fmt.user[0], "$m.Content", fmt.user[1]) + " }}")
    lines.append('{{- else if eq $m.Role "assistant" }}')
    lines.append("{{- " + _join(fmt.assistant[0], "$m.Content", fmt.assistant[1]) + " }}")
    lines.append("{{- end }}")
    if fmt.generation:
        lines.append('{{- if and $last (ne $m.Role "assistant") }}' + _lit(fmt.generation))
        lines.append("{{- end }}")
    lines.append("{{- end }}")
    return "\n".join(lines)


def _join(prefix: str, value: str, suffix: str) -> str:
    """A ``print`` pipeline of a literal prefix, a value and a literal suffix."""
    parts = [json.dumps(prefix, ensure_ascii=False)] if prefix else []
    if value:
        parts.append(value)
    if suffix:
        parts.append(suffix if suffix.startswith('"') else json.dumps(suffix, ensure_ascii=False))
    if not parts:
        return '""'
    return "print " + " ".join(parts) if len(parts) > 1 else parts[0]
