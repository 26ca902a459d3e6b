FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
# PDF letters (Typst) embed Liberation Sans (Arial's metrics, as the envelope window
# layout assumes) and DejaVu Sans; WeasyPrint, kept to rebuild PDFs sent before issue 16,
# needs Pango.
RUN apt-get update && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core fonts-liberation \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY notifier ./notifier
RUN pip install --no-cache-dir . && useradd --system --uid 10001 notifier \
    && install -d -o notifier /archive
USER notifier
ENTRYPOINT ["notifier"]
CMD ["serve"]
