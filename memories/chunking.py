"""Turning retained content into chunks: the unit of extraction and of change detection.

Plain text is split at ``retain_chunk_size`` characters, preferring paragraph, then line, then sentence, then
clause and word boundaries (no overlap). A JSON array of turns (``{role|speaker, content|text, [id|dia_id]}``) is
split only between turns, one turn never spanning two chunks unless it alone exceeds ``structured_chunk_size``.
Chunking is deterministic, so the same text gives the same chunks and unchanged chunks can keep their facts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from memories.extraction.types import Turn

_SEPARATORS = ("\n\n", "\n", ". ", "! ", "? ", "; ", ", ", " ")
_SPEAKER_KEYS = ("speaker", "role", "name", "author")
_TEXT_KEYS = ("content", "text", "message")
_ID_KEYS = ("dia_id", "id", "turn_id")


@dataclass(frozen=True)
class ChunkSpec:
    text: str
    turns: tuple[Turn, ...] = ()

    def content_hash(self, *extra: str) -> str:
        """Hash of the text and whatever else changes extraction (context, timestamp), so edits re-extract."""
        digest = hashlib.sha256(self.text.encode())
        for part in extra:
            digest.update(b"\x00")
            digest.update(part.encode())
        return digest.hexdigest()


def parse_turns(content: str) -> tuple[Turn, ...] | None:
    """The turns of a JSON conversation, or None when the content is not one."""
    stripped = content.lstrip()
    if not stripped.startswith("["):
        return None
    try:
        data = json.loads(content)
    except ValueError:
        return None
    if not isinstance(data, list) or not data:
        return None
    turns = []
    for entry in data:
        if not isinstance(entry, dict):
            return None
        speaker = next((entry[k] for k in _SPEAKER_KEYS if isinstance(entry.get(k), str)), None)
        text = next((entry[k] for k in _TEXT_KEYS if isinstance(entry.get(k), str)), None)
        if speaker is None or text is None:
            return None
        turn_id = next((str(entry[k]) for k in _ID_KEYS if isinstance(entry.get(k), (str, int))), None)
        turns.append(Turn(speaker=speaker.strip(), text=text.strip(), turn_id=turn_id))
    return tuple(turns)


def render_turns(turns: tuple[Turn, ...]) -> str:
    return "\n".join(f"{turn.speaker}: {turn.text}" for turn in turns)


def split_text(text: str, size: int) -> list[str]:
    """Split at the coarsest separator that yields pieces no longer than ``size``; merge small neighbours."""
    if len(text) <= size:
        return [text] if text.strip() else []
    return [piece for piece in _split(text, size, 0) if piece.strip()]


def _split(text: str, size: int, level: int) -> list[str]:
    if len(text) <= size:
        return [text]
    if level >= len(_SEPARATORS):
        return [text[i : i + size] for i in range(0, len(text), size)]
    separator = _SEPARATORS[level]
    parts = text.split(separator)
    if len(parts) == 1:
        return _split(text, size, level + 1)
    # Keep the separator with the piece before it, so joining the chunks gives back the text.
    pieces = [part + separator for part in parts[:-1]] + [parts[-1]]
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        if len(piece) > size:
            if current:
                chunks.append(current)
                current = ""
            chunks.extend(_split(piece, size, level + 1))
        elif len(current) + len(piece) <= size:
            current += piece
        else:
            chunks.append(current)
            current = piece
    if current:
        chunks.append(current)
    return chunks


def chunk_turns(turns: tuple[Turn, ...], size: int, structured_size: int) -> list[ChunkSpec]:
    chunks: list[ChunkSpec] = []
    current: list[Turn] = []
    length = 0
    for turn in turns:
        line_length = len(turn.speaker) + 2 + len(turn.text) + 1
        if line_length > structured_size:
            # One oversize turn: its text is split, each piece keeps the speaker and the turn id.
            if current:
                chunks.append(ChunkSpec(render_turns(tuple(current)), tuple(current)))
                current, length = [], 0
            budget = max(structured_size - len(turn.speaker) - 2, 100)
            for piece in split_text(turn.text, budget):
                piece_turn = Turn(turn.speaker, piece.strip(), turn.turn_id)
                chunks.append(ChunkSpec(render_turns((piece_turn,)), (piece_turn,)))
            continue
        if current and length + line_length > size:
            chunks.append(ChunkSpec(render_turns(tuple(current)), tuple(current)))
            current, length = [], 0
        current.append(turn)
        length += line_length
    if current:
        chunks.append(ChunkSpec(render_turns(tuple(current)), tuple(current)))
    return chunks


def chunk_content(content: str, *, size: int, structured_size: int | None = None) -> list[ChunkSpec]:
    """The chunks of one item's content."""
    turns = parse_turns(content)
    if turns is not None:
        return chunk_turns(turns, size, structured_size or size)
    return [ChunkSpec(piece) for piece in split_text(content, size)]
