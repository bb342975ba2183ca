"""FMW: gathers policy/feature status facts into one PostgreSQL record set.

This package (folder ``ops/``) holds the ``fmw`` command and everything an
admin runs. It must never hold business rules on records: those live in SQL
under ``db/``.
"""

__version__ = "0.1.0"
