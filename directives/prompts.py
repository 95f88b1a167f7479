"""Who is answering: the reflect system prompt, built from the bank's mission, disposition and directives.

The prompt is a list of blocks (the contract's PromptBlockModel) so the agent and the prompt preview route render the
same text. The static rules come first so providers can cache the prefix; the date and the directive reminder last.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from banks import selectors as bank_selectors
from banks.models import Bank
from directives.models import Directive

if TYPE_CHECKING:
    from directives.reflect import ReflectRequest

DEFAULT_ROLE = (
    "You are the memory of this bank: you answer from what it has retained about its people, events and work."
)

# Concrete instructions per trait level (1-2 low, 3 balanced: no instruction, 4-5 high). Documented in the README.
DISPOSITION_RULES: dict[str, dict[str, str]] = {
    "skepticism": {
        "low": "Trust the memories: take what they state at face value and do not second-guess single sources.",
        "high": (
            "Be skeptical: question claims that rest on a single memory or on hearsay, point out memories that "
            "conflict with each other, and say plainly when the evidence is too thin to conclude."
        ),
    },
    "literalism": {
        "low": (
            "Read between the lines: draw reasonable inferences from context, implications and patterns across "
            "memories, and mark them as inferences."
        ),
        "high": (
            "Be literal: answer only from what the memories state explicitly; do not infer intentions, implications "
            "or facts that are not written down."
        ),
    },
    "empathy": {
        "low": "Stay detached: focus on facts and logic, and leave feelings out unless the question asks about them.",
        "high": (
            "Be empathetic: take the feelings and emotional context in the memories into account, acknowledge them, "
            "and phrase sensitive points with care."
        ),
    },
}

DEPTH = {
    "low": "Depth: shallow. One or two searches are usually enough; answer as soon as the evidence suffices.",
    "mid": "Depth: moderate. Check mental models and observations, then verify important points with recall.",
    "high": "Depth: thorough. Search from several angles, verify with recall and expand sources when unsure.",
}


def disposition_lines(disposition: dict[str, int]) -> list[str]:
    lines = []
    for trait in ("skepticism", "literalism", "empathy"):
        level = disposition.get(trait, 3)
        if level <= 2:
            lines.append(DISPOSITION_RULES[trait]["low"])
        elif level >= 4:
            lines.append(DISPOSITION_RULES[trait]["high"])
    return lines


def directives_block(directives: list[Directive]) -> str:
    return "\n".join(f"{index}. {d.name}: {d.content}" for index, d in enumerate(directives, 1))


def prompt_blocks(
    bank: Bank, request: ReflectRequest, directives: list[Directive], tool_names: list[str]
) -> list[dict[str, Any]]:
    """The system prompt as the contract's PromptBlockModel items, in order: rules first (stable, cacheable), then
    identity, disposition, method, reminders. Inactive blocks (no directives) have empty text."""
    disposition = bank_selectors.disposition(bank)
    mission = bank_selectors.mission(bank).strip()

    def block(text: str, *, source: str = "builtin", section: str = "", heading: str = "", **extra: Any) -> dict:
        return {
            "text": text,
            "source": source,
            "field": extra.pop("field", ""),
            "section": section,
            "heading": heading,
            "active": bool(text),
            "value": extra.pop("value", None),
            "kind": extra.pop("kind", "text"),
            "choices": extra.pop("choices", None),
            "editable": extra.pop("editable", False),
        }

    heading = "Directives: hard rules you MUST follow in every answer"
    blocks = [
        block(
            "Answer the question using ONLY information returned by your tools. Never invent names, dates, numbers "
            "or events; when the memories do not contain the answer, say so."
        ),
        block(
            f"## {heading}\n{directives_block(directives)}" if directives else "",
            section="directives",
            heading=heading if directives else "",
            kind="complex",
        ),
        block(
            "## Who you are\n" + (mission or DEFAULT_ROLE),
            source="config",
            field="reflect_mission",
            section="bank_identity",
            heading="Who you are",
            value=mission or None,
            editable=True,
        ),
    ]
    traits = ", ".join(f"{trait}={disposition[trait]}" for trait in ("skepticism", "literalism", "empathy"))
    lines = disposition_lines(disposition)
    blocks.append(
        block(
            f"## Disposition ({traits}; 1-5)\n" + ("\n".join(f"- {line}" for line in lines) or "- Balanced."),
            source="config",
            section="disposition",
            heading=f"Disposition ({traits}; 1-5)",
            value=json.dumps(disposition),
            kind="complex",
            editable=True,
        )
    )
    order = [name for name in ("search_mental_models", "search_observations", "recall", "expand") if name in tool_names]
    blocks.append(
        block(
            "## How to work\n"
            f"- Retrieval order: {', '.join(order) or 'none available'}; mental models are standing answers, "
            "observations consolidated knowledge, recall returns raw facts, expand shows a memory's source text.\n"
            f"- {DEPTH[request.budget]}\n"
            "- When memories conflict, prefer the most recently mentioned and say that they conflict.\n"
            "- Answer in the language of the question unless a directive says otherwise.\n"
            f"- Keep the answer under about {request.max_tokens} tokens, in markdown.\n"
            "- Finish by calling done with your answer and the ids of the memories, observations and mental models "
            "you used. Cite only ids your tools returned.",
            heading="How to work",
        )
    )
    blocks.append(
        block(
            f"Current date and time (UTC): {timezone.now():%Y-%m-%d %H:%M}. Memory bank: {bank.name or bank.bank_id}."
        )
    )
    blocks.append(
        block("Reminder: an answer that violates any directive above will be REJECTED." if directives else "")
    )
    return blocks


def system_prompt(bank: Bank, request: ReflectRequest, directives: list[Directive], tool_names: list[str]) -> str:
    """The agent's system prompt: the active blocks of ``prompt_blocks``."""
    return "\n\n".join(b["text"] for b in prompt_blocks(bank, request, directives, tool_names) if b["active"])


def user_prompt(request: ReflectRequest) -> str:
    text = request.query
    if request.context:
        text += f"\n\nAdditional context: {request.context}"
    return text
