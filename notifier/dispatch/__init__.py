"""Dispatch: due letters claimed and handed to the Dramatiq queue."""
