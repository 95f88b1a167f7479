"""The shared vocabulary of extraction: what an extractor is given and what it returns.

Extractors are pure with respect to the database: they see one chunk and the bank's extraction settings and return
facts; the retain service embeds, resolves entities, links and stores them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class Turn:
    """One conversation turn, when the retained content was a conversation (a JSON list of turns)."""

    speaker: str
    text: str
    turn_id: str | None = None  # the caller's id for the turn (LoCoMo's ``dia_id``), kept on the facts from it


@dataclass(frozen=True)
class ChunkInput:
    """One chunk of one retained item."""

    text: str  # for conversations: one "Speaker: text" line per turn
    chunk_index: int = 0
    chunk_count: int = 1
    context: str = ""
    event_date: datetime | None = None  # the item's timestamp (aware, UTC); None when the caller said "unset"
    metadata: Mapping[str, str] = field(default_factory=dict)
    turns: tuple[Turn, ...] = ()  # non-empty when the chunk came from a conversation


@dataclass(frozen=True)
class ExtractionSettings:
    """The bank's resolved configuration, as far as extraction cares."""

    mode: str = "concise"  # concise | verbose | custom | verbatim | chunks
    retain_mission: str | None = None
    custom_instructions: str | None = None
    entity_labels: list[dict[str, Any]] | None = None  # validated groups (banks.config_registry)
    entities_allow_free_form: bool = True

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ExtractionSettings:
        return cls(
            mode=config.get("retain_extraction_mode", "concise"),
            retain_mission=config.get("retain_mission"),
            custom_instructions=config.get("retain_custom_instructions"),
            entity_labels=config.get("entity_labels"),
            entities_allow_free_form=config.get("entities_allow_free_form", True),
        )


@dataclass
class ExtractedEntity:
    name: str  # for labels: "key:value"
    kind: str = "regular"  # "regular" | "label"
    entity_type: str | None = None  # PERSON, PLACE, ORG, … when known


@dataclass
class ExtractedFact:
    text: str  # self-contained: names instead of pronouns where known, absolute dates written in
    fact_type: str = "world"  # world | experience (the agent's own experience)
    fact_kind: str = "event"  # event (datable) | ongoing (a state or preference)
    occurred_start: datetime | None = None
    occurred_end: datetime | None = None
    entities: list[ExtractedEntity] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)  # from entity-label groups with ``tag: true``
    caused_by: list[int] = field(default_factory=list)  # indexes of earlier facts in the same result
    metadata: dict[str, str] = field(default_factory=dict)  # e.g. speaker, turn_id, who, where (strings only)


@dataclass
class TokenUsage:
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    thoughts_tokens: int = 0

    def add(self, other: TokenUsage) -> None:
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.total_tokens += other.total_tokens
        self.cached_tokens += other.cached_tokens
        self.thoughts_tokens += other.thoughts_tokens

    def as_dict(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
            "cached_tokens": self.cached_tokens,
            "thoughts_tokens": self.thoughts_tokens,
        }


@dataclass
class ExtractionResult:
    facts: list[ExtractedFact]
    usage: TokenUsage = field(default_factory=TokenUsage)


class ExtractionError(Exception):
    """Extraction failed for good (after retries); ``transient`` says whether retrying later may succeed."""

    def __init__(self, message: str, *, transient: bool = False):
        super().__init__(message)
        self.transient = transient


class Extractor(Protocol):
    name: str

    def extract(self, chunk: ChunkInput, settings: ExtractionSettings) -> ExtractionResult: ...
