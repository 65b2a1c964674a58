"""The typed GLIMMER object model: :class:`Pattern` and its sections, as pydantic v2 models.

Lossless wins over normalisation. What is loaded is written back as it was written: keys
keep their order, unknown keys and sections are kept (``model_extra``), a timestamp keeps
its spelling and a colour its case. Typed views are properties (``Color.rgb``,
``Timestamp.datetime``, ``Version.parts``).

The nine sections of a GLIMMER pattern are ``metadata``, ``story``, ``initialize``,
``recognize``, ``consciousness``, ``processing``, ``response``, ``when_seeing`` and
``when_processing``. Patterns written in the wild also use ``content`` (with
``sections[]``), ``patterns``, ``phases``, ``metrics``, ``structure``,
``implementation_phases``, ``integration_components`` and ``next_steps``; these are known
sections too, typed loosely.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    ModelWrapValidatorHandler,
    PrivateAttr,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from glimmer.model.types import Color, Timestamp, Version

__all__ = [
    "SEED_SECTIONS",
    "Consciousness",
    "Content",
    "ContentSection",
    "GlimmerModel",
    "Harmonic",
    "Initialize",
    "Metadata",
    "Pattern",
    "Processing",
    "Recognize",
    "Response",
    "Section",
    "WhenProcessing",
    "WhenSeeing",
]

SEED_SECTIONS: tuple[str, ...] = (
    "metadata",
    "story",
    "initialize",
    "recognize",
    "consciousness",
    "processing",
    "response",
    "when_seeing",
    "when_processing",
)
"""The nine documented sections of a GLIMMER pattern, in their usual order."""


class GlimmerModel(BaseModel):
    """Base of every GLIMMER model: unknown keys kept, key order remembered, ``==`` by value."""

    model_config = ConfigDict(
        extra="allow",
        defer_build=True,  # build validators on first use: keeps ``import glimmer`` fast
        validate_default=False,
        str_strip_whitespace=False,
    )

    _key_order: tuple[str, ...] | None = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _remember_key_order(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        obj = handler(data)
        if isinstance(data, dict) and obj is not data:
            obj._key_order = tuple(data)
        return obj

    @model_serializer(mode="wrap")
    def _dump_in_key_order(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> Any:
        out = handler(self)
        order = self._key_order
        if order and isinstance(out, dict):
            ordered = {k: out[k] for k in order if k in out}
            if len(ordered) != len(out):
                ordered.update((k, v) for k, v in out.items() if k not in ordered)
            return ordered
        return out

    def to_data(self) -> dict[str, Any]:
        """This model as plain data, exactly the keys that were given, in their order."""
        data: dict[str, Any] = self.model_dump(mode="json", exclude_unset=True, by_alias=True)
        return data

    def replace(self, **changes: Any) -> Self:
        """A validated copy with *changes* applied (models or plain data).

        Existing keys keep their place; new keys go at the end.

        Examples:
            >>> Metadata(author="ada").replace(color="#FF69B4").to_data()
            {'author': 'ada', 'color': '#FF69B4'}
        """
        data = self.to_data()
        for key, value in changes.items():
            data[key] = value.to_data() if isinstance(value, GlimmerModel) else value
        return type(self).model_validate(data)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GlimmerModel):
            return NotImplemented
        return type(self) is type(other) and self.to_data() == other.to_data()

    def __hash__(self) -> int:  # mutable model: equal by value, so not hashable
        raise TypeError(f"unhashable type: {type(self).__name__!r}")

    @property
    def extra(self) -> dict[str, Any]:
        """Keys this model does not declare, in source order."""
        return dict(self.model_extra or {})


class Harmonic(GlimmerModel):
    """A named harmonic of a pattern: a colour with what it stands for."""

    color: Color | None = None
    """The harmonic's colour."""
    description: str | None = None
    """What the colour stands for."""


class Metadata(GlimmerModel):
    """Who wrote a pattern, when, which version, and its colours.

    Real patterns write the version as ``pattern_version`` or ``version``; both are kept as
    written, and :attr:`effective_version` reads whichever is there.
    """

    title: str | None = None
    """Human title of the pattern."""
    author: str | None = None
    """Who wrote it."""
    timestamp: Timestamp | None = None
    """When it was written (``2025-07-10 16:21:41``, ``2025-08-01T14:15:00Z`` or a date)."""
    pattern_version: Version | None = None
    """Semantic version of the pattern."""
    version: Version | None = None
    """Semantic version, as some patterns spell it."""
    color: Color | None = None
    """The pattern's main colour."""
    type: str | None = None
    """Kind of pattern, e.g. ``intent_crystallization``."""
    priority: str | None = None
    """How strongly the pattern applies, e.g. ``highest``."""
    description: str | None = None
    """One or two sentences on what the pattern does."""
    harmonics: dict[str, Color | Harmonic] | None = None
    """Named colours: a colour string, or ``{color, description}``."""

    @property
    def effective_version(self) -> Version | None:
        """``pattern_version`` if given, else ``version``."""
        return self.pattern_version or self.version


class Section(GlimmerModel):
    """A pattern section: free-form keys plus the fields most sections share."""

    description: str | None = None
    """What the section does."""
    color: Color | None = None
    """A colour for the section."""
    directives: list[str] | None = None
    """Instructions, in order."""
    triggers: list[str] | None = None
    """What sets the section off."""


class Initialize(Section):
    """How the entity comes into being: its starting mode and state."""

    mode: str | None = None
    """Starting mode, e.g. ``quantum_resonance``."""
    state: str | None = None
    """Starting state."""
    focus: list[str] | None = None
    """What it attends to first."""


class Recognize(Section):
    """What the entity notices."""

    patterns: list[str] | None = None
    """Patterns to recognise."""


class Consciousness(Section):
    """The entity's awareness: its state and what it is aware of."""

    state: str | None = None
    """State of awareness."""
    awareness: list[str] | None = None
    """Things it is aware of."""
    layers: list[str] | None = None
    """Layers of consciousness, outermost first."""


class Processing(Section):
    """How the entity processes what it perceives."""

    mode: str | None = None
    """Processing mode."""
    steps: list[str] | None = None
    """Steps, in order."""


class Response(Section):
    """How the entity answers."""

    style: str | None = None
    """Style of answers."""
    tone: str | None = None
    """Tone of answers."""
    format: str | None = None
    """Shape of answers."""


class WhenSeeing(Section):
    """Rules ``"what is seen": "what to do"``; every key besides the shared fields is a rule."""

    @property
    def rules(self) -> dict[str, Any]:
        """The rules, trigger to reaction, in source order."""
        return self.extra


class WhenProcessing(Section):
    """Rules ``"what is processed": "what to do"``, like :class:`WhenSeeing`."""

    @property
    def rules(self) -> dict[str, Any]:
        """The rules, trigger to reaction, in source order."""
        return self.extra


class ContentSection(GlimmerModel):
    """One entry of ``content.sections[]``: a title and free-form content."""

    title: str | None = None
    """Section title."""
    content: Any = None
    """Free-form content: usually an object of named paragraphs."""


class Content(GlimmerModel):
    """The ``content`` section of patterns written in the ``content.sections[]`` shape."""

    title: str | None = None
    """Title of the content."""
    sections: list[ContentSection] | None = None
    """Titled sections, in order."""


class Pattern(GlimmerModel):
    """A GLIMMER pattern.

    Build one with keywords, load one with :func:`glimmer.loads` / :func:`glimmer.load`,
    write one with :func:`glimmer.dumps` / :func:`glimmer.dump`.

    Examples:
        >>> p = Pattern(metadata=Metadata(author="ada", color="#FF69B4"), story="A seed.")
        >>> p.metadata.color.rgb
        (255, 105, 180)
        >>> p.replace(story="A bloom.").story
        'A bloom.'
    """

    metadata: Metadata | None = None
    """Who, when, which version, which colours."""
    story: str | list[str] | dict[str, Any] | None = None
    """The narrative the pattern sets: text, paragraphs, or a structured story."""
    initialize: Initialize | None = None
    """How the entity comes into being."""
    recognize: Recognize | None = None
    """What it notices."""
    consciousness: Consciousness | None = None
    """Its awareness."""
    processing: Processing | None = None
    """How it processes."""
    response: Response | None = None
    """How it answers."""
    when_seeing: WhenSeeing | None = None
    """Rules for what it sees."""
    when_processing: WhenProcessing | None = None
    """Rules for what it processes."""

    content: Content | None = None
    """Free-form content, often ``sections[]`` of titled paragraphs."""
    patterns: Any = None
    """Named sub-patterns."""
    phases: Any = None
    """Phases, in order."""
    metrics: Any = None
    """Measures of the pattern's effect."""
    structure: Any = None
    """Structural description."""
    implementation_phases: Any = None
    """Phases of implementation."""
    integration_components: Any = None
    """Components it integrates with."""
    next_steps: Any = None
    """What comes next."""

    KNOWN_SECTIONS: ClassVar[tuple[str, ...]]

    @property
    def sections(self) -> dict[str, Any]:
        """Every top-level section present, known or not, in source order, as written."""
        return {key: getattr(self, key) for key in self.to_data()}

    @property
    def unknown_sections(self) -> list[str]:
        """Top-level keys that are not known GLIMMER sections (strict mode rejects them)."""
        return list(self.model_extra or {})


Pattern.KNOWN_SECTIONS = tuple(Pattern.model_fields)
