"""Signals sent by skills.services after a change commits (cache invalidation only)."""

from django.dispatch import Signal

# Sent with `skill_id` after any create, update, status change, promotion or delete.
skill_changed = Signal()
