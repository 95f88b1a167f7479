"""Fact extraction: turning a chunk of retained content into facts, entities and dates.

Two extractors implement ``types.Extractor``: ``offline.OfflineExtractor`` (no model at all, the default) and
``llm.LLMExtractor`` (one structured-output litellm call per chunk). ``get_extractor()`` picks by settings.
"""
