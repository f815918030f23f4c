"""Polls, date polls, questionnaires and their results (charts included)."""
