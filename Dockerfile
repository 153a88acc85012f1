FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    LSE_EMULATOR_HOST=0.0.0.0 \
    LSE_EMULATOR_PORT=8080 \
    LSE_EMULATOR_DATA_DIR=/data

WORKDIR /opt/lse-emulator
COPY pyproject.toml README.md ./
COPY app ./app
COPY migrations ./migrations
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --home-dir /data emulator \
    && mkdir -p /data && chown emulator /data

USER 10001
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/_emulator/health', timeout=2)"]
CMD ["lse-emulator", "serve"]
