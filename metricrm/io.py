"""Kept for imports written before 0.2: result tables now live in
:mod:`metricrm.core.results_io` (also ``metricrm.write_table`` / ``metricrm.read_table``)."""

from .core.results_io import FORMATS, atomic_write, read_table, table_format, write_table

__all__ = ["FORMATS", "atomic_write", "read_table", "table_format", "write_table"]
