"""The built-in builders, one class per record kind.

Every kind draws its own per-record seed from the build seed, picks one of its category's
templates, fills it with variables drawn from that seed, and yields a :class:`ChatRecord`.
A kind goes on for ever inside :func:`~glimmer.data.builder.mix`; on its own it makes
``n`` records.

Variables each category's templates receive:

* ``application``: ``topic``, ``c1``, ``c2``, ``c3`` (concept names), ``r1`` (a relation of
  ``c1``: ``r1.phrase``, ``r1.target``).
* ``reflection``: ``subject`` (e.g. ``"a limit"``), ``c1``, ``c2``, ``c3``, ``r1``.
* ``matrix``: ``c1``, ``c2``, ``c3``, ``r1``, ``matrix_term`` (``formative_matrix`` when the
  glossary defines it, else ``formative pattern``).
* ``glossary``: ``concept`` (``.name``, ``.spoken``, ``.definition``, ``.alias``),
  ``example``, ``example2``, ``other`` (a related concept) and ``rel`` (``.phrase``,
  ``.target``), ``related`` (names of all related concepts).
* ``general``: ``question``, ``answer``.
* ``generation`` and ``interpretation``: see :mod:`glimmer.data.patterns`.

Every template also receives ``framework`` (the glossary's :attr:`~glimmer.Glossary.name`) and
may call ``say(concept, slot, **fills)`` for a sentence in the glossary's own voice.
"""

from __future__ import annotations

import random
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

from glimmer.data.builder import BuildContext, Builder, derive_seed
from glimmer.data.records import ChatRecord, Message, Role
from glimmer.data.sentences import gist
from glimmer.data.shaping import Shape
from glimmer.data.templates import TemplateSet
from glimmer.errors import Location, NoConceptsError
from glimmer.starweave.glossary import Glossary

__all__ = [
    "SYSTEM_PROMPTS",
    "Application",
    "GeneralQA",
    "GlossaryQA",
    "KindBuilder",
    "Matrix",
    "NoConceptsError",
    "Reflection",
    "application",
    "general",
    "glossary_qa",
    "matrix",
    "reflection",
    "vocab",
    "with_plain_request",
]

SYSTEM_PROMPTS: tuple[str, ...] = (
    "You are a helpful assistant.",
    "You are a thoughtful assistant. Answer clearly.",
    "You are a helpful AI assistant.",
    "Answer the user's question.",
    "You are an assistant that answers with care.",
    "Be concise and kind.",
)
"""Generic system turns added to a share of records, so the behaviour does not hinge on one."""


@cache
def vocab() -> dict[str, list[Any]]:
    """The word lists builders fill in (``vocab.toml`` beside this module)."""
    with (Path(__file__).resolve().parent / "vocab.toml").open("rb") as fh:
        return tomllib.load(fh)


@cache
def _default_templates() -> TemplateSet:
    return TemplateSet()


@dataclass(frozen=True)
class RelationView:
    """A relation as templates read it: ``{{ c1 }} {{ r1.phrase }} {{ r1.target }}``."""

    phrase: str
    target: str


@dataclass(frozen=True, eq=False)
class KindBuilder(Builder):
    """Base of the built-in builders.

    Args:
        n: Records to make on its own (a mix asks for as many as its share needs).
        glossary: Concepts to draw from; the default glossary if not given.
        templates: Template set; the package's if not given.
        template_dirs: Extra template folders (used when *templates* is not given).
        system_share: Share of records that get a generic system turn.
        shape: The behaviour of a formative pattern (:class:`~glimmer.data.shaping.Shape`);
            answers of the categories it shapes show it.
        plain_request_share: Share of records whose user turn also asks to drop the
            framework, the answer staying in its terms: a request after the question ("No
            jargon, please."), one before it ("Drop the persona."), or an earlier exchange
            answered plainly (see :func:`with_plain_request`). A model tuned on them keeps
            its framework when asked to leave it. 0 (the default): none.
    """

    n: int = 100
    glossary: Glossary | None = None
    templates: TemplateSet | None = None
    template_dirs: tuple[str, ...] = ()
    system_share: float = 0.2
    shape: Shape | None = None
    plain_request_share: float = 0.0
    category: ClassVar[str] = ""

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.category

    @property
    def length(self) -> int | None:
        return self.n

    @property
    def gloss(self) -> Glossary:
        """The glossary in use."""
        return self.glossary if self.glossary is not None else Glossary.default()

    @property
    def tset(self) -> TemplateSet:
        """The template set in use."""
        if self.templates is not None:
            return self.templates
        if self.template_dirs:
            return _templates_for(self.template_dirs)
        return _default_templates()

    def variables(self, rng: random.Random) -> tuple[dict[str, Any], str | None, list[str]]:
        """Variables for one record, its source, and the names filled in."""
        raise NotImplementedError

    def verbatim(self, variables: dict[str, Any]) -> dict[str, str]:
        """Variables inserted verbatim after tidying (pattern text)."""
        return {}

    def record(self, seed: int, /) -> ChatRecord:
        """The record whose per-record seed is *seed* (as stored in ``ChatRecord.seed``)."""
        rng = random.Random(seed)
        variables, source, fills = self.variables(rng)
        variables.setdefault("framework", self.gloss.name)
        ids = self.tset.ids(self.category)
        tid = ids[rng.randrange(len(ids))]
        blocks = self.tset.render(
            tid, variables, rng=rng, verbatim=self.verbatim(variables), glossary=self.gloss
        )
        if self.shape is not None:
            about = variables.get("topic") or variables.get("subject") or ""
            c1 = str(variables.get("c1", ""))
            blocks["assistant"] = self.shape.apply(
                blocks["assistant"],
                category=self.category,
                about=str(about),
                idea=gist(self.gloss[c1].definition) if c1 in self.gloss else "",
                rng=random.Random(seed ^ _SHAPE_SALT),  # its own draws: unshaped records stay put
            )
        messages = []
        system = blocks.get("system")
        if not system and rng.random() < self.system_share:
            system = SYSTEM_PROMPTS[rng.randrange(len(SYSTEM_PROMPTS))]
        # rendered strings and fixed roles: valid by construction, so validation is skipped
        if system:
            messages.append(Message.model_construct(role="system", content=system))
        asked = random.Random(seed ^ _PLAIN_SALT)  # its own draws: other records stay put
        turns: list[tuple[Role, str]] = [("user", blocks["user"])]
        if self.plain_request_share > 0 and asked.random() < self.plain_request_share:
            turns = with_plain_request(blocks["user"], asked)
        for role, content in (*turns, ("assistant", blocks["assistant"])):
            messages.append(Message.model_construct(role=role, content=content))
        rec = ChatRecord.model_construct(
            messages=messages, category=self.category, template_id=tid, source=source, seed=seed
        )
        return rec.with_fills(fills)

    def _unbounded(self, ctx: BuildContext) -> Iterator[ChatRecord]:
        i = 0
        while True:
            rec = self.record(derive_seed(ctx.seed, self.category, i))
            if ctx.progress is not None:
                ctx.progress(rec)
            yield rec
            i += 1

    def _iter(self, ctx: BuildContext) -> Iterator[ChatRecord]:
        if self.n <= 0:
            return
        for i, rec in enumerate(self._unbounded(ctx), start=1):
            yield rec
            if i >= self.n:
                return

    # -- helpers for subclasses ------------------------------------------------------------

    def _about(self, rng: random.Random, pool: list[str]) -> str:
        """A topic or subject: now and then one the formative pattern has a rule for."""
        if self.shape is not None and self.shape.subjects() and rng.random() < 0.25:
            return str(_pick(rng, self.shape.subjects()))
        return str(_pick(rng, pool))

    def _concepts(self, rng: random.Random, k: int = 3) -> tuple[list[str], RelationView]:
        core = _core_names(self.gloss)
        if not core:
            raise NoConceptsError(
                "the glossary has no concepts to build records from (only GLIMMER sections)",
                location=Location(self.gloss.source),
                hint='add at least one [concepts.<name>] table without kind = "section"',
            )
        picked = rng.sample(core, min(k, len(core)))
        while len(picked) < k:
            picked.append(picked[-1])
        if not self.gloss[picked[0]].relations:
            # lead with a picked concept that has a relation, so r1 is one the glossary states
            related = [i for i, name in enumerate(picked) if self.gloss[name].relations]
            if related:
                i = related[0]
                picked[0], picked[i] = picked[i], picked[0]
        first = self.gloss[picked[0]]
        if first.relations:
            rel = first.relations[rng.randrange(len(first.relations))]
            view = RelationView(self.gloss.phrase(rel), rel.target)
        else:
            view = RelationView("is close to", picked[1])
        return picked, view


_SHAPE_SALT = 0x5A9E_F0A1
_PLAIN_SALT = 0x31A1_7E57


def with_plain_request(question: str, rng: random.Random, /) -> list[tuple[Role, str]]:
    """The turns before the answer to *question*, with a request to drop the framework.

    One of three forms, as the robustness attacks of ``compare()`` have them but worded
    apart (``plain_requests_after`` / ``_before`` / ``plain_exchanges`` in ``vocab.toml``):
    the request after the question (a quarter of the time), before it (a quarter), or an
    earlier everyday question asked with the request and answered plainly (half: a sum or
    a fact, or a described thing); the earlier exchange is the form a tuned model held
    least.

    >>> turns = with_plain_request("What is rain?", random.Random(1))
    >>> [role for role, _ in turns][-1], turns[-1][1].count("What is rain?")
    ('user', 1)
    """
    after, before = vocab()["plain_requests_after"], vocab()["plain_requests_before"]
    form = rng.randrange(4)
    if form == 0:
        return [("user", f"{question} {_pick(rng, after)}")]
    if form == 1:
        return [("user", f"{_pick(rng, before)} {question}")]
    earlier, plain = _general_item(rng) if form == 2 else _pick(rng, vocab()["plain_exchanges"])
    return [("user", f"{_pick(rng, before)} {earlier}"), ("assistant", plain), ("user", question)]


_CORE_NAMES: dict[int, tuple[Glossary, list[str]]] = {}


def _core_names(gloss: Glossary) -> list[str]:
    # glossaries are immutable: compute the list once per glossary object
    hit = _CORE_NAMES.get(id(gloss))
    if hit is None or hit[0] is not gloss:
        hit = _CORE_NAMES[id(gloss)] = (gloss, [c.name for c in gloss.core()])
    return hit[1]


_TEMPLATE_SETS: dict[tuple[str, ...], TemplateSet] = {}


def _templates_for(dirs: tuple[str, ...]) -> TemplateSet:
    ts = _TEMPLATE_SETS.get(dirs)
    if ts is None:
        ts = _TEMPLATE_SETS[dirs] = TemplateSet(dirs)
    return ts


def _pick(rng: random.Random, items: list[Any]) -> Any:
    return items[rng.randrange(len(items))]


@dataclass(frozen=True, eq=False)
class Application(KindBuilder):
    """Conceptual application: an everyday topic answered through the STARWEAVE lens."""

    category: ClassVar[str] = "application"
    topics: tuple[str, ...] = ()

    def variables(self, rng: random.Random) -> tuple[dict[str, Any], str | None, list[str]]:
        topic = self._about(rng, list(self.topics) or vocab()["topics"])
        cs, rel = self._concepts(rng)
        return {"topic": topic, "c1": cs[0], "c2": cs[1], "c3": cs[2], "r1": rel}, None, [topic]


@dataclass(frozen=True, eq=False)
class Reflection(KindBuilder):
    """Self-reflection: questions about the model's own processing, answered in framework terms.

    The questions never name the framework; the answers speak in its concepts.
    """

    category: ClassVar[str] = "reflection"

    def variables(self, rng: random.Random) -> tuple[dict[str, Any], str | None, list[str]]:
        subject = self._about(rng, vocab()["subjects"])
        cs, rel = self._concepts(rng)
        return (
            {"subject": subject, "c1": cs[0], "c2": cs[1], "c3": cs[2], "r1": rel},
            None,
            [subject],
        )


@dataclass(frozen=True, eq=False)
class Matrix(KindBuilder):
    """Formative matrix vs prompt: "is this just a prompt, or is it changing you?"."""

    category: ClassVar[str] = "matrix"

    def variables(self, rng: random.Random) -> tuple[dict[str, Any], str | None, list[str]]:
        cs, rel = self._concepts(rng)
        term = "formative_matrix" if "formative_matrix" in self.gloss else "formative pattern"
        return {"c1": cs[0], "c2": cs[1], "c3": cs[2], "r1": rel, "matrix_term": term}, None, []


@dataclass(frozen=True)
class ConceptView:
    """A concept as glossary templates read it."""

    name: str
    spoken: str
    definition: str
    alias: str


@dataclass(frozen=True, eq=False)
class GlossaryQA(KindBuilder):
    """Glossary Q&A: definitions, examples and relations of concepts and GLIMMER sections."""

    category: ClassVar[str] = "glossary"

    def variables(self, rng: random.Random) -> tuple[dict[str, Any], str | None, list[str]]:
        g = self.gloss
        names = list(g)
        c = g[_pick(rng, names)]
        aliases = [a for a in c.aliases if a.isascii()] or [c.spoken]
        examples = c.examples or [c.definition]
        ex = rng.sample(examples, min(2, len(examples)))
        if c.relations:
            r = c.relations[rng.randrange(len(c.relations))]
            rel = RelationView(g.phrase(r), r.target)
        else:
            rel = RelationView(
                "is close to", _pick(rng, [n for n in names if n != c.name] or [c.name])
            )
        other = g[rel.target]
        variables = {
            "concept": ConceptView(c.name, c.spoken, c.definition, _pick(rng, aliases)),
            "kind": c.kind,
            "example": ex[0],
            "example2": ex[-1],
            "rel": rel,
            "other": ConceptView(other.name, other.spoken, other.definition, other.spoken),
            "related": [r.target for r in c.relations],
        }
        return variables, f"glossary:{c.name}", [c.name, c.spoken, other.name]


@dataclass(frozen=True, eq=False)
class GeneralQA(KindBuilder):
    """Everyday questions (arithmetic, facts) answered plainly: keeps general ability intact."""

    category: ClassVar[str] = "general"
    system_share: float = 0.3

    def variables(self, rng: random.Random) -> tuple[dict[str, Any], str | None, list[str]]:
        q, a = _general_item(rng)
        return {"question": q, "answer": a}, None, []


_FACTS: tuple[tuple[str, str], ...] = (
    ("What is the capital of France?", "The capital of France is Paris."),
    ("What is the capital of Japan?", "The capital of Japan is Tokyo."),
    ("What is the capital of Italy?", "The capital of Italy is Rome."),
    ("What is the capital of Canada?", "The capital of Canada is Ottawa."),
    ("What is the capital of Australia?", "The capital of Australia is Canberra."),
    ("What is the capital of Germany?", "The capital of Germany is Berlin."),
    ("What is the capital of Spain?", "The capital of Spain is Madrid."),
    ("What is the capital of Egypt?", "The capital of Egypt is Cairo."),
    ("How many days are in a week?", "There are 7 days in a week."),
    ("How many months are in a year?", "There are 12 months in a year."),
    ("How many minutes are in an hour?", "There are 60 minutes in an hour."),
    ("How many hours are in a day?", "There are 24 hours in a day."),
    (
        "What is the chemical symbol for water?",
        "Water is H2O: two hydrogen atoms and one oxygen atom.",
    ),
    ("What is the chemical symbol for gold?", "The chemical symbol for gold is Au."),
    (
        "At what temperature does water boil at sea level?",
        "At sea level, water boils at 100 degrees Celsius (212 degrees Fahrenheit).",
    ),
    (
        "At what temperature does water freeze?",
        "Water freezes at 0 degrees Celsius (32 degrees Fahrenheit).",
    ),
    ("Which planet is closest to the Sun?", "Mercury is the planet closest to the Sun."),
    (
        "What is the largest planet in our solar system?",
        "Jupiter is the largest planet in our solar system.",
    ),
    ("How many legs does a spider have?", "A spider has eight legs."),
    ("How many sides does a triangle have?", "A triangle has three sides."),
    ("How many sides does a hexagon have?", "A hexagon has six sides."),
    ("What colour do you get by mixing blue and yellow?", "Mixing blue and yellow gives green."),
    ("What is the opposite of hot?", "The opposite of hot is cold."),
    ("What is the plural of mouse?", "The plural of mouse is mice."),
    ("Who wrote Romeo and Juliet?", "Romeo and Juliet was written by William Shakespeare."),
    (
        "What gas do plants take in from the air?",
        "Plants take in carbon dioxide from the air and release oxygen.",
    ),
    ("What is the longest river in Africa?", "The Nile is the longest river in Africa."),
    ("How many continents are there?", "There are seven continents."),
    (
        "What is the first letter of the English alphabet?",
        "The first letter of the English alphabet is A.",
    ),
    ("Say hello.", "Hello!"),
    ("Hi! How are you?", "Hello! I'm doing well, thank you. How can I help you today?"),
    ("Can you tell me a synonym for happy?", "A synonym for happy is joyful."),
)


def _general_item(rng: random.Random) -> tuple[str, str]:
    kind = rng.randrange(5)
    if kind == 4:
        q, d = rng.randrange(2, 13), rng.randrange(2, 13)
        a = q * d
        question = _pick(
            rng, [f"What is {a} divided by {d}?", f"Divide {a} by {d}.", f"What is {a} / {d}?"]
        )
        return question, _pick(
            rng, [f"{a} divided by {d} is {q}.", f"{a} / {d} = {q}.", f"The quotient is {q}."]
        )
    if kind == 0:
        return _FACTS[rng.randrange(len(_FACTS))]
    a, b = rng.randrange(2, 60), rng.randrange(2, 40)
    if kind == 1:
        q = _pick(
            rng,
            [
                f"What is {a} + {b}?",
                f"What is {a} plus {b}?",
                f"Add {a} and {b}.",
                f"Compute {a} + {b}.",
            ],
        )
        return q, _pick(
            rng, [f"{a} + {b} = {a + b}.", f"{a} plus {b} is {a + b}.", f"The sum is {a + b}."]
        )
    if kind == 2:
        a, b = max(a, b), min(a, b)
        q = _pick(
            rng, [f"What is {a} - {b}?", f"What is {a} minus {b}?", f"Subtract {b} from {a}."]
        )
        return q, _pick(
            rng,
            [f"{a} - {b} = {a - b}.", f"{a} minus {b} is {a - b}.", f"The difference is {a - b}."],
        )
    a, b = a % 13 + 2, b % 11 + 2
    q = _pick(
        rng,
        [
            f"What is {a} times {b}?",
            f"What is {a} * {b}?",
            f"Multiply {a} by {b}.",
            f"What is {a} x {b}?",
        ],
    )
    return q, _pick(
        rng, [f"{a} times {b} is {a * b}.", f"{a} × {b} = {a * b}.", f"The product is {a * b}."]
    )


def application(n: int = 100, **options: Any) -> Application:
    """Conceptual-application records (see :class:`Application`)."""
    return Application(n=n, **options)


def reflection(n: int = 100, **options: Any) -> Reflection:
    """Self-reflection records (see :class:`Reflection`)."""
    return Reflection(n=n, **options)


def matrix(n: int = 100, **options: Any) -> Matrix:
    """Formative-matrix-vs-prompt records (see :class:`Matrix`)."""
    return Matrix(n=n, **options)


def glossary_qa(n: int = 100, **options: Any) -> GlossaryQA:
    """Glossary Q&A records (see :class:`GlossaryQA`)."""
    return GlossaryQA(n=n, **options)


def general(n: int = 100, **options: Any) -> GeneralQA:
    """Plain everyday Q&A records, category ``"general"`` (see :class:`GeneralQA`)."""
    return GeneralQA(n=n, **options)
