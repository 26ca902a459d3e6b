"""Stable names other processes and stored data depend on. Change them only with a migration."""

from typing import Final

KEY_PREFIX: Final = "notifier:"
DRAMATIQ_NAMESPACE: Final = "notifier:dramatiq"

QUEUE_LETTERS: Final = "letters"
ACTOR_DELIVER_LETTER: Final = "deliver_letter"

DISPATCH_JOB_ID: Final = "notifier-dispatch"

QUEUE_CALLBACKS: Final = "callbacks"  # issue 13: signed status callbacks
ACTOR_DELIVER_CALLBACK: Final = "deliver_callback"
