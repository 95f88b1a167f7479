"""Fact extraction: turning a chunk of retained content into facts, entities and dates.

Two extractors implement ``types.Extractor``: ``offline.OfflineExtractor`` (no model at all, the default) and
``llm.LLMExtractor`` (one structured-output litellm call per chunk). ``get_extractor()`` picks by settings.
"""

from memories.extraction.types import Extractor


def get_extractor(mode: str) -> Extractor:
    """The LLM extractor when a retain model is configured (except in ``chunks`` mode), else the offline one."""
    from hindsight_site.llm import llm_configured

    if mode != "chunks" and llm_configured("retain"):
        from memories.extraction.llm import LLMExtractor

        return LLMExtractor()
    from memories.extraction.offline import OfflineExtractor

    return OfflineExtractor()
