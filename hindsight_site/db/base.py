"""The project's database backend: Django's PostgreSQL backend plus database-enforced delete cascades.

Django 5.2 emulates ``on_delete=CASCADE`` in Python, which loads every dependent row before deleting it; deleting a
bank with a hundred thousand memories that way is slow and memory-hungry. Foreign keys declared with
``DbCascadeForeignKey`` get ``ON DELETE CASCADE`` in their constraint instead, so one ``DELETE`` of a bank removes
everything in it, atomically, whichever code path issues it.
"""

from django.db.backends.postgresql import base, schema


class DatabaseSchemaEditor(schema.DatabaseSchemaEditor):
    # Always add foreign keys through _create_fk_sql (which knows the field) rather than inline in ADD COLUMN.
    sql_create_column_inline_fk = None

    def _create_fk_sql(self, model, field, suffix):
        statement = super()._create_fk_sql(model, field, suffix)
        action = getattr(field, "db_on_delete", None)
        if action:
            statement.parts["deferrable"] = f" ON DELETE {action}{statement.parts['deferrable']}"
        return statement


class DatabaseWrapper(base.DatabaseWrapper):
    SchemaEditorClass = DatabaseSchemaEditor
