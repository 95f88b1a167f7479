"""Model fields that rely on the project's database backend."""

from django.db import models


class DbCascadeForeignKey(models.ForeignKey):
    """A foreign key whose rows are deleted by PostgreSQL (``ON DELETE CASCADE``) when the referenced row goes.

    The ORM does nothing on delete (``DO_NOTHING``), so deleting a parent is one statement however many children
    it has. Use it for ownership: everything inside a bank, a document, a memory unit.
    """

    db_on_delete = "CASCADE"

    def __init__(self, to, **kwargs):
        kwargs["on_delete"] = models.DO_NOTHING
        super().__init__(to, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("on_delete", None)
        return name, path, args, kwargs


class DbSetNullForeignKey(models.ForeignKey):
    """A nullable foreign key that PostgreSQL sets to NULL (``ON DELETE SET NULL``) when the referenced row goes."""

    db_on_delete = "SET NULL"

    def __init__(self, to, **kwargs):
        kwargs["on_delete"] = models.DO_NOTHING
        kwargs["null"] = True
        super().__init__(to, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("on_delete", None)
        kwargs.pop("null", None)
        return name, path, args, kwargs
