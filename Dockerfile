# Image for the API and the workers (docker-compose.yml). Same installation as scripts/setup.sh,
# but for the native ranked pass (native/, built with a Rust toolchain, which this image has not):
# its keyword searches are ranked by tantivy-py, with the same answers (docs/decisions.md, "The
# ranked pass in native code").
FROM python:3.11-slim-bookworm
ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1
RUN apt-get update && apt-get install -y --no-install-recommends \
        tesseract-ocr tesseract-ocr-rus tesseract-ocr-ukr tesseract-ocr-bel tesseract-ocr-eng \
        fonts-dejavu-core djvulibre-bin gcc g++ \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY archive_search ./archive_search
COPY ingest ./ingest
COPY index ./index
COPY search_api ./search_api
COPY ui ./ui
RUN pip install --upgrade pip && pip install .
RUN useradd --system --create-home archive && mkdir -p /data && chown archive /data
USER archive
ENV ARCHIVE_DATA_DIR=/data
ENTRYPOINT ["archive"]
CMD ["serve"]
