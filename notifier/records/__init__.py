"""Records: what happens after sending (receipts, callbacks, journalisation) and
what is kept (access log, retention, archive)."""
