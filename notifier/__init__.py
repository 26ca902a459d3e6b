"""notifier: Digital Post notification and reminder worker for sickness-benefit follow-up."""

__version__ = "0.1.0"
