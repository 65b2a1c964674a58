"""Term lock: a decoding setting that lets a model say only the compound terms it was given.

A tuned model learns that framework speech is made of ``snake_case`` compounds, and a small
one goes on to coin its own from the glossary's words (``formative_matrix_crystal``,
``consciousness_crystal_memory``): terms nobody defined, which a reader takes for jargon.
With the lock on, once an answer's word takes an underscore it can only be completed as a
term the glossary defines (any number of its words singular or plural), a GLIMMER keyword
(``when_seeing``, ``pattern_version``) or a compound the prompt itself contains; every other
continuation is masked. Plain words, hyphenated words and two-word phrases are left alone,
and so are the keys of a pattern the model writes (a word on an indented line, or quoted at
the start of one): patterns may name their own fields.

The lock is the decoding half of :func:`glimmer.evaluate.speech.invented_terms`, which counts
what gets through: compare() reports both the setting and the figure.

Examples:
    >>> lock = TermLock(["meta", "_", "intel", "ligence", "flow", " x", ".", "\\n  "],
    ...                 ["meta_intelligence_flow"])
    >>> state = lock.rows(["Tell me."])
    >>> [lock.strings[i] for i in lock.allowed(state[0], "the meta_intel")]
    ['ligence']
    >>> [lock.strings[i] for i in lock.banned(state[0], "the flow")]  # "flow_" starts no term
    ['_']
    >>> lock.banned(state[0], "the meta")  # "meta_" may go on to meta_intelligence_flow
    []
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, Final

from glimmer.evaluate.metrics import word_forms
from glimmer.model import pattern as pattern_models

__all__ = ["DSL_WORDS", "TermLock", "TermLockProcessor", "accepted_terms"]

_LEAD: Final = re.compile(r"[A-Za-z0-9_]*")
_TAIL: Final = re.compile(r"[A-Za-z0-9_]*\Z")
_COMPOUND: Final = re.compile(r"(?<![A-Za-z0-9_])[A-Za-z0-9]+(?:_[A-Za-z0-9]+)+")
# a word in a key position: on an indented line, or quoted at the start of a line
_KEY_POSITION: Final = re.compile(r'[ \t]+"?|"')


def _pattern_keys() -> frozenset[str]:
    """The compound keys the typed pattern knows (``pattern_version``, ``next_steps``, ...)."""
    keys: set[str] = set()
    for model in vars(pattern_models).values():
        if isinstance(model, type) and issubclass(model, pattern_models.GlimmerModel):
            for name, field in model.model_fields.items():
                keys.update(k for k in (name, field.alias) if k and "_" in k)
    return frozenset(keys)


#: GLIMMER section, field and rule keywords: an answer about patterns may name them.
DSL_WORDS: Final = _pattern_keys() | {"meta_data", "key_value", "snake_case", "follow_up"}


def accepted_terms(terms: Iterable[str], /) -> frozenset[str]:
    """Every ``snake_case`` spelling of *terms* (lower case), each word singular or plural.

    Examples:
        >>> sorted(accepted_terms(["consciousness crystals", "pattern_language", "story"]))
        ... # doctest: +NORMALIZE_WHITESPACE
        ['consciousness_crystal', 'consciousness_crystals', 'consciousnesses_crystal',
         'consciousnesses_crystals', 'pattern_language', 'pattern_languages',
         'patterns_language', 'patterns_languages']
    """
    out: set[str] = set()
    for term in terms:
        words = [w for w in re.split(r"[\s_\-]+", term.strip()) if w]
        if len(words) < 2:
            continue
        spellings = [""]
        for w in words:
            spellings = [f"{s}_{f}" if s else f for s in spellings for f in sorted(word_forms(w))]
        out.update(spellings)
    return frozenset(out)


class TermLock:
    """The vocabulary tables of one tokenizer and the terms every answer may use.

    Args:
        strings: Each token id's text, in id order (``tokenizer.batch_decode`` of each id),
            or a tokenizer.
        terms: The compounds any answer may say (glossary terms, GLIMMER keywords); a
            prompt's own compounds are added per row by :meth:`rows`.
    """

    def __init__(self, strings: Sequence[str] | Any, terms: Iterable[str], /) -> None:
        if not isinstance(strings, Sequence):
            n = len(strings)
            strings = strings.batch_decode(
                [[i] for i in range(n)],
                skip_special_tokens=False,
                clean_up_tokenization_spaces=False,
            )
        self.strings: list[str] = list(strings)
        self.terms = frozenset(t.lower() for t in terms if "_" in t)
        # tokens by the identifier characters they open with (lower case), and whether the
        # token is nothing else (the word goes on after it)
        self._by_lead: dict[str, list[tuple[int, bool]]] = defaultdict(list)
        self._underscore: list[int] = []  # tokens that go on a word with an underscore
        self._ends: list[int] = []  # tokens that end the word they follow
        self._tails: dict[int, str] = {}  # tokens that start a new word with an underscore
        for i, s in enumerate(self.strings):
            lead = _LEAD.match(s).group(0)  # type: ignore[union-attr]
            whole = len(lead) == len(s)
            if lead:
                self._by_lead[lead.lower()].append((i, whole))
            else:
                self._ends.append(i)
            if "_" in lead:
                self._underscore.append(i)
            if not whole and "\n" not in s:
                tail = _TAIL.search(s).group(0)  # type: ignore[union-attr]
                if "_" in tail:
                    self._tails[i] = tail.lower()
        self._sets: dict[frozenset[str], tuple[list[str], set[str], list[int]]] = {}
        self._cache: dict[tuple[frozenset[str], str], list[int]] = {}

    @classmethod
    def for_index(cls, tokenizer: Any, index: Any, /) -> TermLock:
        """A lock for *tokenizer* that accepts the terms of a
        :class:`~glimmer.evaluate.metrics.ConceptIndex` and the GLIMMER keywords."""
        terms = [t for c in index.concepts.values() for t in (c.name, *c.terms)]
        return cls(tokenizer, accepted_terms(terms) | DSL_WORDS)

    def rows(self, prompts: Sequence[str], /) -> list[frozenset[str]]:
        """The accepted compounds of each row: the lock's terms and the prompt's own."""
        out = []
        for text in prompts:
            own = {m.group(0).lower() for m in _COMPOUND.finditer(text)}
            out.append(self.terms | own if own - self.terms else self.terms)
        return out

    def _tables(self, accepted: frozenset[str]) -> tuple[list[str], set[str], list[int]]:
        """Accepted terms sorted, every prefix of one, and the new-word tokens none allows."""
        tables = self._sets.get(accepted)
        if tables is None:
            prefixes = {a[:k] for a in accepted for k in range(1, len(a) + 1)}
            banned = [i for i, tail in self._tails.items() if tail not in prefixes]
            tables = (sorted(accepted), prefixes, banned)
            self._sets[accepted] = tables
        return tables

    def _completions(self, accepted: frozenset[str], word: str) -> set[int]:
        """Tokens that take *word* on towards an accepted term (through an underscore)."""
        ordered, _, _ = self._tables(accepted)
        out: set[int] = set()
        for a in ordered:
            if len(a) <= len(word) or not a.startswith(word):
                continue
            rest = a[len(word) :]
            for k in range(1, len(rest) + 1):
                piece = rest[:k]
                if "_" not in word + piece:
                    continue
                for i, whole in self._by_lead.get(piece, ()):
                    if whole or k == len(rest):
                        out.add(i)
        return out

    def allowed(self, accepted: frozenset[str], line: str) -> list[int]:
        """The tokens that may follow *line* (the answer's current line) in an allow-list, or
        ``[]`` when nothing is locked.

        Only for a word already holding an underscore; see :meth:`banned` for the rest.
        """
        word = _TAIL.search(line).group(0)  # type: ignore[union-attr]
        if "_" not in word or _KEY_POSITION.fullmatch(line[: len(line) - len(word)]):
            return []
        low = word.lower()
        key = (accepted, low)
        hit = self._cache.get(key)
        if hit is None:
            _, _, banned = self._tables(accepted)
            ids = self._completions(accepted, low)
            if low in accepted:
                ids.update(self._ends)
                ids.difference_update(banned)
            hit = self._remember(key, sorted(ids))
        return hit

    def banned(self, accepted: frozenset[str], line: str) -> list[int]:
        """The tokens that may not follow *line* when its last word has no underscore yet:
        those that would put one in a word that no accepted term starts with."""
        word = _TAIL.search(line).group(0)  # type: ignore[union-attr]
        low = word.lower()
        # an underscore opening a word ("_emphasis_") makes no compound, nor does a key
        free = not word or bool(_KEY_POSITION.fullmatch(line[: len(line) - len(word)]))
        key = (accepted, ("\1" if free else "\0") + low)
        hit = self._cache.get(key)
        if hit is None:
            _, _, banned = self._tables(accepted)
            ok = set() if free else self._completions(accepted, low)
            extend = [] if free else [i for i in self._underscore if i not in ok]
            hit = self._remember(key, sorted({*extend, *banned}))
        return hit

    def _remember(self, key: tuple[frozenset[str], str], ids: list[int]) -> list[int]:
        if len(self._cache) > 50_000:
            self._cache.clear()
        self._cache[key] = ids
        return ids


class TermLockProcessor:
    """A ``transformers`` logits processor applying a :class:`TermLock` to a batch.

    Args:
        lock: The lock.
        accepted: Each row's accepted compounds (:meth:`TermLock.rows`).
        start: Where the answers begin in ``input_ids`` (the prompt is not read).
    """

    def __init__(self, lock: TermLock, accepted: Sequence[frozenset[str]], /, *, start: int):
        self.lock = lock
        self.accepted = list(accepted)
        self.start = start
        self._lines = [""] * len(self.accepted)
        self._seen = 0

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        n = input_ids.shape[1] - self.start
        if n > self._seen:  # one step on: each row's newest token joins its line
            for row, tok in enumerate(input_ids[:, -1].tolist()):
                line = self._lines[row] + self.lock.strings[tok]
                self._lines[row] = line.rsplit("\n", 1)[-1][-256:]
            self._seen = n
        for row, accepted in enumerate(self.accepted):
            line = self._lines[row]
            allow = self.lock.allowed(accepted, line)
            if allow:
                keep = scores[row, allow].clone()
                scores[row, :] = float("-inf")
                scores[row, allow] = keep
                continue
            ban = self.lock.banned(accepted, line)
            if ban and len(ban) < scores.shape[1]:
                scores[row, torch.tensor(ban, device=scores.device)] = float("-inf")
        return scores
