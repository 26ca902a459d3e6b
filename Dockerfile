FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY notifier ./notifier
RUN pip install --no-cache-dir . && useradd --system --uid 10001 notifier
USER notifier
ENTRYPOINT ["notifier"]
CMD ["serve"]
