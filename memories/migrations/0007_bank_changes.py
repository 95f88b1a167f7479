"""A log of which transactions changed what recall reads of each bank, written by statement-level triggers.

The in-process recall index (``memories.recall_index``) is a copy of a bank as of one snapshot; before answering from
it, recall asks whether any transaction that snapshot did not see has since committed a change to the bank. Triggers
rather than application code write the log, so that every write path (retain, deletes, curation, consolidation, the
admin, a cascade, hand-written SQL) is covered. One row per bank and transaction (the primary key absorbs repeats),
and no row lock is shared between writers, so concurrent retains do not wait on each other.
"""

from django.db import migrations

# Tables whose rows carry the bank: what recall reads of them (units; links for the graph; entities' names and
# mention counts; documents' ids in results).
BANK_TABLES = ("memories_memoryunit", "memories_memorylink", "memories_entity", "memories_document")
EVENTS = {"INSERT": ("NEW",), "UPDATE": ("NEW", "OLD"), "DELETE": ("OLD",)}

FUNCTIONS = """
CREATE FUNCTION memories_note_bank_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO memories_bankchange (bank_id, xid)
        SELECT DISTINCT bank_id, pg_current_xact_id() FROM new_rows ON CONFLICT DO NOTHING;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO memories_bankchange (bank_id, xid)
        SELECT DISTINCT bank_id, pg_current_xact_id() FROM old_rows ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END $$;

-- A unit's entities carry no bank: it is the entity's.
CREATE FUNCTION memories_note_unit_entity_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO memories_bankchange (bank_id, xid)
        SELECT DISTINCT e.bank_id, pg_current_xact_id()
        FROM (SELECT DISTINCT entity_id FROM new_rows) n JOIN memories_entity e ON e.id = n.entity_id
        ON CONFLICT DO NOTHING;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        -- A unit's entity rows deleted by the entity's own deletion: that deletion is logged by the entity trigger.
        INSERT INTO memories_bankchange (bank_id, xid)
        SELECT DISTINCT e.bank_id, pg_current_xact_id()
        FROM (SELECT DISTINCT entity_id FROM old_rows) o JOIN memories_entity e ON e.id = o.entity_id
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END $$;
"""


def _triggers(table: str, function: str) -> str:
    statements = []
    for event, tables in EVENTS.items():
        referencing = " ".join(f"{kind} TABLE AS {kind.lower()}_rows" for kind in tables)
        statements.append(
            f"CREATE TRIGGER {table}_bank_change_{event.lower()} AFTER {event} ON {table} "
            f"REFERENCING {referencing} FOR EACH STATEMENT EXECUTE FUNCTION {function}();"
        )
    return "\n".join(statements)


FORWARD = (
    """
CREATE TABLE memories_bankchange (
    bank_id bigint NOT NULL,
    xid xid8 NOT NULL,
    PRIMARY KEY (bank_id, xid)
);
"""
    + FUNCTIONS
    + "\n".join(_triggers(table, "memories_note_bank_change") for table in BANK_TABLES)
    + "\n"
    + _triggers("memories_unitentity", "memories_note_unit_entity_change")
)

BACKWARD = (
    "\n".join(
        f"DROP TRIGGER IF EXISTS {table}_bank_change_{event.lower()} ON {table};"
        for table in (*BANK_TABLES, "memories_unitentity")
        for event in EVENTS
    )
    + """
DROP FUNCTION IF EXISTS memories_note_bank_change();
DROP FUNCTION IF EXISTS memories_note_unit_entity_change();
DROP TABLE IF EXISTS memories_bankchange;
"""
)


class Migration(migrations.Migration):
    dependencies = [("memories", "0006_gin_pending_list_limit")]

    operations = [migrations.RunSQL(FORWARD, reverse_sql=BACKWARD)]
