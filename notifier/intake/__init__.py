"""Intake: events and other input, checked before anything is stored."""
