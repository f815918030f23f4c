"""Shared handler infrastructure: the @handler transaction, guided dialogs, rendering, light shared UI."""
