"""Delivery: one letter rendered (HTML, PDF, MeMo) and handed to its channel."""
