"""PostgreSQL backend whose foreign keys can cascade inside the database (see ``fields.DbCascadeForeignKey``)."""
