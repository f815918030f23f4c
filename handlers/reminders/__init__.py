"""Reminders: the planner that queues them, the screens that set them, session-change events."""
