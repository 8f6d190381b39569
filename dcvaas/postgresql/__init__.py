"""Django's PostgreSQL backend, with psycopg's C loader for `timestamptz` columns.

Settings select it (`ENGINE = "dcvaas.postgresql"`) whenever `DATABASE_URL` is PostgreSQL.
"""
