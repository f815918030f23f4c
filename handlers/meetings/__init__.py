"""Meetings: browsing and registering, creating and coordinating sessions, calendar files, exports."""
