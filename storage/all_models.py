"""Imports every model module so `Base.metadata` knows all tables (Alembic, tests)."""

from storage import (
    crisis_models,  # noqa: F401  (crisis bulletins, digests, field reports)
    models,  # noqa: F401
    polls_models,  # noqa: F401  (polls, date polls, questionnaires)
    privacy_models,  # noqa: F401  (who a queued message names)
    reminders_models,  # noqa: F401  (reminder marks, calendar copies)
    updates,  # noqa: F401  (updates already handled: one effect per update_id)
)
from storage.db import Base

__all__ = ["Base"]
