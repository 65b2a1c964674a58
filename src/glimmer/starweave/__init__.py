"""The STARWEAVE conceptual framework as data: the glossary of concepts and their relations."""

from __future__ import annotations

from glimmer.starweave.glossary import Concept, Glossary, GlossaryError, Relation

__all__ = ["Concept", "Glossary", "GlossaryError", "Relation"]
