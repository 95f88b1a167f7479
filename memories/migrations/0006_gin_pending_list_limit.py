"""A 256 kB pending-list limit on the units' GIN indexes, set in place (ALTER INDEX) rather than by rebuilding them."""

from django.contrib.postgres.indexes import GinIndex
from django.db import migrations

INDEXES = {"unit_search_vector_gin": "search_vector", "unit_tags_gin": "tags", "unit_sources_gin": "source_memory_ids"}


def _state_operations():
    operations = []
    for name, field in INDEXES.items():
        operations += [
            migrations.RemoveIndex(model_name="memoryunit", name=name),
            migrations.AddIndex(
                model_name="memoryunit",
                index=GinIndex(fields=[field], name=name, gin_pending_list_limit=256),
            ),
        ]
    return operations


class Migration(migrations.Migration):
    dependencies = [("memories", "0005_unit_token_count")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f"ALTER INDEX {name} SET (gin_pending_list_limit = 256)",
                    reverse_sql=f"ALTER INDEX {name} RESET (gin_pending_list_limit)",
                )
                for name in INDEXES
            ],
            state_operations=_state_operations(),
        )
    ]
