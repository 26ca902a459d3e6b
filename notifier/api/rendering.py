"""PDFs for the API and the pages, bounded (issue 17): a time limit per render, a small
pool so renders cannot pile up, and sent letters served from a cache keyed by SHA-256.

WeasyPrint cannot be interrupted, so the limit is on waiting: a render still running after
``NOTIFIER_RENDER_TIMEOUT`` seconds answers 503 to its caller and finishes in the pool's
thread, whose size (``POOL``) bounds how much such work can run at once. The text limits
(``NOTIFIER_LETTER_MAX_CHARS``, the per-field limits) keep a render short in the first place.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from fastapi import HTTPException

from notifier.api.letters import document_pdf
from notifier.delivery.pdf import PdfRenderer, sha256
from notifier.delivery.render import Rendered
from notifier.logging import get_logger

log = get_logger("notifier.api")
POOL = 2


class BoundedPdf:
    def __init__(self, pdf: PdfRenderer, timeout: float, cache_entries: int) -> None:
        self.pdf = pdf
        self.timeout = timeout
        self.cache_entries = cache_entries
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=POOL, thread_name_prefix="pdf")
        self.renders = 0  # how many renders ran (the cache test reads it)

    def render(self, rendered: Rendered) -> bytes:
        """A preview's PDF; 503 if it takes longer than the limit."""
        return self._bounded(lambda: self.pdf.render(rendered))

    def sent(self, document: dict[str, str]) -> bytes:
        """A sent letter's PDF: from the cache by the SHA-256 kept when it was sent (or of
        its HTML, if it went without a PDF); rebuilt and checked only on a miss."""
        key = document.get("pdf_sha256") or "html:" + sha256(document["html"].encode())
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        data = self._bounded(lambda: document_pdf(self.pdf, document))
        with self._lock:
            self._cache[key] = data
            while len(self._cache) > self.cache_entries:
                self._cache.popitem(last=False)
        return data

    def _bounded(self, work: Callable[[], bytes]) -> bytes:
        future = self._pool.submit(self._count, work)
        try:
            return future.result(timeout=self.timeout)
        except FutureTimeout:
            log.warning("pdf.render_timeout", seconds=self.timeout)
            raise HTTPException(503, f"rendering the PDF took longer than {self.timeout:g} "
                                "seconds; use the HTML document, or try again later",
                                headers={"Retry-After": "30"}) from None

    def _count(self, work: Callable[[], bytes]) -> bytes:
        with self._lock:
            self.renders += 1
        return work()
