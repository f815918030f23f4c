"""Imports every model module so `Base.metadata` knows all tables (Alembic, tests)."""

from storage import models  # noqa: F401
from storage import polls_models  # noqa: F401  (polls, date polls, questionnaires)
from storage import crisis_models  # noqa: F401  (crisis bulletins, digests, field reports)
from storage import reminders_models  # noqa: F401  (reminder marks, calendar copies)
from storage import privacy_models  # noqa: F401  (who a queued message names)
from storage import updates  # noqa: F401  (updates already handled: one effect per update_id)
from storage.db import Base

__all__ = ["Base"]
