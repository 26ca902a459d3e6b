"""The HTTP API and the caseworker pages (FastAPI, served by uvicorn).

``app.create_app(runtime)`` builds the application. The operations behind it live in
``intake`` (events), ``cases`` and ``letters`` (reading, cancelling) and ``adhoc``
(ad-hoc letters and previews); the CLI calls the same functions, so both give the same
validation and messages. Nothing here imports FastAPI at package import time.
"""
