"""Imports every model module so `Base.metadata` knows all tables (Alembic, tests)."""

from storage import models  # noqa: F401
from storage.db import Base

__all__ = ["Base"]
