"""Fixtures for the business outputs' tests: the business library's own (a fresh database on
SQLite and PostgreSQL made by host_tools/business/database.open_business, and the World that
writes terminals, meters and frozen values), shared rather than copied."""
from tests.business.conftest import NOW, PASSWORD, World, engine, rows, world  # noqa: F401
