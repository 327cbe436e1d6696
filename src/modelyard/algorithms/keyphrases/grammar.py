"""Chunk grammars: regular expressions over POS tags that say which word runs are candidates.

The syntax is the chunk-rule part of the one NLTK's ``RegexpParser`` reads::

    NP: {<ADJ>*<NOUN|PROPN>}

A grammar is one or more rules, one per line (or separated by ``;``), each ``LABEL:
{pattern}``. A pattern is a sequence of elements; an element is a tag set ``<A|B>`` (any
one of the universal tags listed) or a parenthesised group ``(...|...)`` of alternative
sequences, optionally followed by ``*``, ``+`` or ``?``. Tag names must be universal POS
tags, so that a German (STTS) or Penn tag in a grammar is reported instead of silently
never matching.

Matching is leftmost-longest per rule: scanning from the left, the longest non-empty
match starting at the first position where one exists is taken, and the scan resumes
after it, so every match is maximal and no two matches of one rule overlap. Each rule is
compiled to a deterministic automaton over the tag alphabet, so matching is one table
lookup per tag. Unlike NLTK, rules do not cascade (a later rule does not see the chunks
of an earlier one): their matches are simply pooled, and chinking (``}...{``) is not
supported.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from modelyard.algorithms.keyphrases.tagsets import UNIVERSAL_TAGS

__all__ = ["ChunkGrammar", "ChunkRule", "GrammarError"]

#: Past this many automaton states a grammar is refused: no useful chunk grammar is near it.
_MAX_DFA_STATES = 2_000

_RULE = re.compile(r"^\s*([A-Za-z_][\w-]*)\s*:\s*\{(.*)\}\s*$", re.DOTALL)
_PATTERN_TOKEN = re.compile(r"\s*(?:(<[^<>]*>)|([()|*+?])|(\S))")
_TAG_NAME = re.compile(r"^[A-Za-z_$][\w$().,-]*$")


class GrammarError(ValueError):
    """A chunk grammar that does not parse; the message says where and why."""


# The pattern's syntax tree: a tag set, a sequence, alternatives, or a repetition.
@dataclass(frozen=True, kw_only=True, slots=True)
class _TagSet:
    tags: frozenset[str]


@dataclass(frozen=True, kw_only=True, slots=True)
class _Seq:
    items: tuple[_Node, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class _Alt:
    options: tuple[_Node, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class _Repeat:
    item: _Node
    #: ``*``, ``+`` or ``?``.
    quantifier: str


_Node = _TagSet | _Seq | _Alt | _Repeat


class _PatternParser:
    """Recursive-descent parser of one rule's pattern into a syntax tree."""

    def __init__(self, pattern: str, label: str) -> None:
        self._label = label
        self._tokens: list[str] = []
        for match in _PATTERN_TOKEN.finditer(pattern):
            tag_set, operator, other = match.groups()
            if other is not None:
                raise GrammarError(
                    f"rule {label}: unexpected {other!r} in pattern "
                    "(expected <TAG>, (, ), |, *, + or ?)"
                )
            self._tokens.append(tag_set or operator)
        self._pos = 0

    def parse(self) -> _Node:
        if not self._tokens:
            raise GrammarError(f"rule {self._label}: empty pattern")
        node = self._alternatives()
        if self._pos < len(self._tokens):
            raise GrammarError(f"rule {self._label}: unexpected {self._tokens[self._pos]!r}")
        return node

    def _peek(self) -> str | None:
        return self._tokens[self._pos] if self._pos < len(self._tokens) else None

    def _alternatives(self) -> _Node:
        options = [self._sequence()]
        while self._peek() == "|":
            self._pos += 1
            options.append(self._sequence())
        return options[0] if len(options) == 1 else _Alt(options=tuple(options))

    def _sequence(self) -> _Node:
        items: list[_Node] = []
        while (token := self._peek()) is not None and token not in ("|", ")"):
            items.append(self._element())
        if not items:
            raise GrammarError(f"rule {self._label}: empty alternative or group")
        return items[0] if len(items) == 1 else _Seq(items=tuple(items))

    def _element(self) -> _Node:
        token = self._tokens[self._pos]
        self._pos += 1
        node: _Node
        if token == "(":
            node = self._alternatives()
            if self._peek() != ")":
                raise GrammarError(f"rule {self._label}: missing ')'")
            self._pos += 1
        elif token.startswith("<"):
            node = _TagSet(tags=self._tag_names(token[1:-1]))
        else:
            raise GrammarError(f"rule {self._label}: unexpected {token!r}")
        while (quantifier := self._peek()) in ("*", "+", "?"):
            assert quantifier is not None
            self._pos += 1
            node = _Repeat(item=node, quantifier=quantifier)
        return node

    def _tag_names(self, body: str) -> frozenset[str]:
        names = [name.strip() for name in body.split("|")]
        for name in names:
            if not name or not _TAG_NAME.match(name):
                raise GrammarError(f"rule {self._label}: bad tag <{body}>")
            if name not in UNIVERSAL_TAGS:
                raise GrammarError(
                    f"rule {self._label}: unknown tag {name!r}; use universal POS tags: "
                    + ", ".join(sorted(UNIVERSAL_TAGS))
                )
        return frozenset(names)


class _Nfa:
    """Thompson automaton of a pattern: tag states, epsilon splits, one accepting state."""

    def __init__(self, root: _Node) -> None:
        #: Per state: the tags it consumes (None for an epsilon state).
        self.tags: list[frozenset[str] | None] = []
        #: Per state: the states it leads to.
        self.out: list[list[int]] = []
        start, ends = self._build(root)
        self.accept = self._state(None)
        self._link(ends, self.accept)
        self.start = start

    def _state(self, tags: frozenset[str] | None) -> int:
        self.tags.append(tags)
        self.out.append([])
        return len(self.tags) - 1

    def _link(self, ends: list[int], target: int) -> None:
        for end in ends:
            self.out[end].append(target)

    def _build(self, node: _Node) -> tuple[int, list[int]]:
        """Build ``node``; return its entry state and the states whose exits are open."""
        if isinstance(node, _TagSet):
            state = self._state(node.tags)
            return state, [state]
        if isinstance(node, _Seq):
            start, ends = self._build(node.items[0])
            for item in node.items[1:]:
                item_start, item_ends = self._build(item)
                self._link(ends, item_start)
                ends = item_ends
            return start, ends
        if isinstance(node, _Alt):
            split = self._state(None)
            all_ends: list[int] = []
            for option in node.options:
                option_start, option_ends = self._build(option)
                self.out[split].append(option_start)
                all_ends.extend(option_ends)
            return split, all_ends
        split = self._state(None)
        item_start, item_ends = self._build(node.item)
        self.out[split].append(item_start)
        if node.quantifier == "?":
            return split, [*item_ends, split]
        # ``*`` and ``+`` loop back to the split; ``+`` is entered past it, through the item.
        self._link(item_ends, split)
        return (split if node.quantifier == "*" else item_start), [split]

    def closure(self, states: set[int]) -> frozenset[int]:
        """The states reachable from ``states`` by epsilon moves, keeping only useful ones."""
        stack = list(states)
        seen = set(states)
        while stack:
            state = stack.pop()
            if self.tags[state] is None:
                for target in self.out[state]:
                    if target not in seen:
                        seen.add(target)
                        stack.append(target)
        return frozenset(s for s in seen if self.tags[s] is not None or s == self.accept)


@dataclass(frozen=True, kw_only=True, slots=True)
class ChunkRule:
    """One rule of a grammar, compiled to a deterministic automaton over universal tags."""

    #: The rule's label (``NP``).
    label: str
    #: Per automaton state: the state each tag leads to (a missing tag: no match).
    transitions: tuple[dict[str, int], ...]
    #: Per automaton state: whether a match may end there.
    accepting: tuple[bool, ...]

    @classmethod
    def compile(cls, label: str, pattern: str) -> ChunkRule:
        """Parse ``pattern`` and build its automaton (subset construction)."""
        nfa = _Nfa(_PatternParser(pattern, label).parse())
        start = nfa.closure({nfa.start})
        index: dict[frozenset[int], int] = {start: 0}
        queue = [start]
        transitions: list[dict[str, int]] = []
        accepting: list[bool] = []
        while len(transitions) < len(queue):
            current = queue[len(transitions)]
            moves: dict[str, set[int]] = {}
            for state in current:
                for tag in nfa.tags[state] or ():
                    moves.setdefault(tag, set()).update(nfa.out[state])
            row: dict[str, int] = {}
            for tag, targets in moves.items():
                target = nfa.closure(targets)
                if target not in index:
                    if len(queue) >= _MAX_DFA_STATES:
                        raise GrammarError(f"rule {label}: pattern too complex")
                    index[target] = len(queue)
                    queue.append(target)
                row[tag] = index[target]
            transitions.append(row)
            accepting.append(nfa.accept in current)
        return cls(label=label, transitions=tuple(transitions), accepting=tuple(accepting))

    def find(self, tags: Sequence[str]) -> list[tuple[int, int]]:
        """Return the leftmost-longest non-empty matches in ``tags`` as ``(start, end)``."""
        transitions = self.transitions
        accepting = self.accepting
        matches: list[tuple[int, int]] = []
        n = len(tags)
        start = 0
        while start < n:
            state = 0
            longest = -1
            pos = start
            while pos < n:
                following = transitions[state].get(tags[pos])
                if following is None:
                    break
                state = following
                pos += 1
                if accepting[state]:
                    longest = pos
            if longest > start:
                matches.append((start, longest))
                start = longest
            else:
                start += 1
        return matches


@dataclass(frozen=True, kw_only=True, slots=True)
class ChunkGrammar:
    """A parsed chunk grammar: its rules, and the text it was parsed from."""

    #: The grammar as written.
    text: str
    #: Its rules, in order.
    rules: tuple[ChunkRule, ...]

    @classmethod
    def parse(cls, text: str) -> ChunkGrammar:
        """Parse a grammar; raise `GrammarError` saying what is wrong."""
        rules: list[ChunkRule] = []
        for line in re.split(r"[\n;]", text):
            if not line.strip():
                continue
            match = _RULE.match(line)
            if match is None:
                if re.match(r"^\s*[\w-]+\s*:\s*\}", line):
                    raise GrammarError(f"chink rules are not supported: {line.strip()!r}")
                raise GrammarError(f"expected 'LABEL: {{pattern}}', got {line.strip()!r}")
            rules.append(ChunkRule.compile(match.group(1), match.group(2)))
        if not rules:
            raise GrammarError("the grammar has no rule")
        return cls(text=text, rules=tuple(rules))

    def find(self, tags: Sequence[str]) -> list[tuple[int, int]]:
        """Return every rule's matches in ``tags``, without repeats, in text order."""
        if len(self.rules) == 1:
            return self.rules[0].find(tags)
        spans = {span for rule in self.rules for span in rule.find(tags)}
        return sorted(spans)
