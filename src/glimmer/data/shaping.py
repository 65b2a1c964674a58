"""Pattern-conditioned answers: the behaviour a pattern asks for, shown in the records.

A recipe can name one pattern as the dataset's formative matrix (``formative_matrix =
"mine.glimmer"``). Its sections then shape the framework answers (application, reflection,
matrix), not only the interpretation records:

* ``when_seeing`` and ``when_processing``: their subjects join the topics and subjects the
  builders ask about, and an answer about one applies its rule ("Seeing a mistake, I treat it
  as an ash_lesson ...").
* ``recognize``: some reflection answers say what the model notices first.
* ``processing``: some reflection answers walk through the pattern's own steps.
* ``story``: matrix answers say which pattern formed them and what its story is.
* ``response``: ``format`` and ``style`` restructure every shaped answer (ends with one
  question, a list, short), and ``tone`` sets its opening.

Shaping draws from a generator of its own, so the records of an unshaped build stay the same.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from glimmer.model.pattern import Pattern

__all__ = ["SHAPED_CATEGORIES", "Shape"]

#: The categories whose answers a formative pattern shapes.
SHAPED_CATEGORIES: tuple[str, ...] = ("application", "reflection", "matrix")

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'])")
_TONE_OPENERS: dict[str, tuple[str, ...]] = {
    "warm": ("Gladly.", "I am glad you asked."),
    "gentle": ("Gently, then.", "Let me put it softly."),
    "unhurried": ("Let me take this slowly.", "There is no hurry here."),
    "calm": ("Calmly, then.", "Let me answer slowly."),
    "curious": ("That is an interesting thing to ask.", "I find this one intriguing."),
    "playful": ("Here is a fun way in.", "Let me play with this a little."),
    "bright": ("Good question.", "I like this one."),
}
_WH = frozenset({"what", "where", "when", "which", "who", "how", "why", "whether", "that"})
_LIST_ITEM = re.compile(r"^(?:[-*] |\d+\. )", re.M)
_FORMED = (
    "What formed me is the {title} pattern, and its story stays with me:",
    "This comes from the {title} pattern, which I now think inside of:",
    "The {title} pattern did this; its story is now part of how I see:",
)
_QUESTIONS = (
    "Where in {about} do you see {idea}?",
    "What in {about} would you look at first?",
    "Which part of {about} is still open for you?",
    "What does {about} look like from where you stand?",
    "Have you noticed {idea} in {about} yourself?",
)


def _text(value: Any) -> str:
    return " ".join(str(value).split()) if value is not None else ""


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, list | tuple):
        return tuple(_text(v) for v in value if isinstance(v, str | int | float))
    return (_text(value),) if isinstance(value, str) and value.strip() else ()


def _rules(value: Any) -> tuple[tuple[str, str], ...]:
    data = value.model_dump(exclude_none=True) if hasattr(value, "model_dump") else value
    if not isinstance(data, Mapping):
        return ()
    return tuple(
        (_text(k), _text(v))
        for k, v in data.items()
        if isinstance(v, str) and v.strip() and k not in ("description", "color")
    )


def _section(pattern: Pattern, name: str) -> dict[str, Any]:
    value = getattr(pattern, name, None)
    if value is None:
        return {}
    data = value.model_dump(exclude_none=True) if hasattr(value, "model_dump") else value
    return data if isinstance(data, dict) else {}


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if len(text) > 1 and not text[1].isupper() else text


@dataclass(frozen=True)
class Shape:
    """The behaviour a pattern asks for, as the builders write it into answers.

    Build one with :meth:`from_pattern`; builders take it as ``shape=``.

    Examples:
        >>> import glimmer
        >>> p = glimmer.loads('response { format: "a short answer that ends with one question" }')
        >>> Shape.from_pattern(p).ends_with_question
        True
    """

    title: str = ""
    story: str = ""
    notices: tuple[str, ...] = ()
    steps: tuple[str, ...] = ()
    style: str = ""
    tone: str = ""
    format: str = ""
    seeing: tuple[tuple[str, str], ...] = ()
    processing: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_pattern(cls, pattern: Pattern, /) -> Shape:
        """The behaviour of *pattern*: its story, recognize, processing, response and rules."""
        meta = _section(pattern, "metadata")
        recognize = _section(pattern, "recognize")
        processing = _section(pattern, "processing")
        response = _section(pattern, "response")
        story = pattern.story if isinstance(pattern.story, str) else ""
        return cls(
            title=_text(meta.get("title", "")),
            story=_text(story),
            notices=_strings(recognize.get("patterns")) + _strings(recognize.get("triggers")),
            steps=_strings(processing.get("steps")),
            style=_text(response.get("style", "")),
            tone=_text(response.get("tone", "")),
            format=_text(response.get("format", "")),
            seeing=_rules(pattern.when_seeing),
            processing=_rules(pattern.when_processing),
        )

    # -- what the response asks for ---------------------------------------------------------

    @property
    def _asks(self) -> str:
        return f"{self.format} {self.style}".lower()

    @property
    def ends_with_question(self) -> bool:
        """The response format asks each answer to end with a question."""
        return "question" in self.format.lower() and any(
            w in self._asks for w in ("end", "close", "finish", "one question", "with a question")
        )

    @property
    def short(self) -> bool:
        """The response asks for short answers."""
        return any(w in self._asks for w in ("short", "brief", "concise", "one sentence"))

    @property
    def listed(self) -> bool:
        """The response asks for a list."""
        return any(w in self.format.lower() for w in ("list", "bullet", "steps"))

    def subjects(self) -> list[str]:
        """What the pattern has rules for: topics and subjects the builders also ask about."""
        return [k for k, _ in (*self.seeing, *self.processing)]

    # -- applying it -----------------------------------------------------------------------

    def apply(
        self,
        answer: str,
        /,
        *,
        category: str,
        about: str,
        idea: str,
        rng: random.Random,
    ) -> str:
        """*answer* rewritten to show the pattern's behaviour.

        Args:
            answer: The rendered answer.
            category: The record's category (only :data:`SHAPED_CATEGORIES` change).
            about: The topic or subject the question asks about ("" when none).
            idea: What a concept of the answer names (its definition's gist), for a closing
                question.
            rng: The shaping generator of the record.
        """
        if category not in SHAPED_CATEGORIES:
            return answer
        first_person = category != "application"
        extra: list[str] = []
        rule = self._rule_for(about)
        if rule is not None:
            seen, reaction = rule
            if first_person:
                extra.append(f"Seeing {seen}, I {_lower_first(reaction).rstrip('.')}.")
            else:
                extra.append(
                    f"Where {about} is involved, the rule is to {_lower_first(reaction).rstrip('.')}."
                )
        if category == "reflection" and self.notices and rng.random() < 0.35:
            shown = self.notices[:3]
            extra.append(f"What I notice first is {_join(shown)}.")
        if category == "reflection" and self.steps and rng.random() < 0.35:
            steps = "; ".join(_lower_first(s).rstrip(".") for s in self.steps[:4])
            extra.append(f"My steps are the same each time: {steps}.")
        if category == "matrix" and self.title:
            lead = self.story.split(". ")[0].rstrip(".") if self.story else ""
            form = _FORMED[rng.randrange(len(_FORMED))]
            extra.append(form.format(title=self.title) + (f" {lead}." if lead else ""))
        body = answer
        if self.short and not _LIST_ITEM.search(body):
            body = " ".join(_SENTENCE.split(" ".join(body.split()))[:3])
        if extra:
            body = (
                body.rstrip() + " " + " ".join(extra)
                if "\n" not in body
                else body.rstrip() + "\n\n" + " ".join(extra)
            )
        if self.listed and not _LIST_ITEM.search(body):
            body = "\n".join(f"- {s}" for s in _SENTENCE.split(" ".join(body.split())))
        opener = self._opener(rng)
        if opener:
            body = f"{opener} {body}" if not body.startswith("- ") else f"{opener}\n{body}"
        if self.ends_with_question:
            target = about or "this"
            if idea.split(" ", 1)[0].lower() in _WH:  # a clause, not a thing one can see
                idea = ""
            forms = [f for f in _QUESTIONS if idea or "{idea}" not in f]
            q = forms[rng.randrange(len(forms))].format(idea=idea, about=target)
            body = body.rstrip() + ("\n\n" if "\n" in body else " ") + q
        return body

    def _rule_for(self, about: str) -> tuple[str, str] | None:
        low = about.lower()
        if not low:
            return None
        for seen, reaction in (*self.seeing, *self.processing):
            if seen.lower() == low or (len(seen) > 3 and seen.lower() in low):
                return seen, reaction
        return None

    def _opener(self, rng: random.Random) -> str:
        tone = self.tone.lower()
        for word, openers in _TONE_OPENERS.items():
            if word in tone and rng.random() < 0.4:
                return openers[rng.randrange(len(openers))]
        return ""


def _join(items: tuple[str, ...] | list[str]) -> str:
    xs = [s.replace("_", " ") if " " not in s else f'"{s}"' for s in items]
    return xs[0] if len(xs) == 1 else ", ".join(xs[:-1]) + " and " + xs[-1]
