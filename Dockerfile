# feedwatch in a container: `docker compose up -d` runs the daemon and the web view (compose.yaml).
# Not built on the machine it was written on (no Docker there): see docs/INSTALL.md.
FROM python:3.11-slim

# Wheels exist for every dependency (lxml, numpy, opencc, nh3) on this image: no compiler needed.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY feedwatch ./feedwatch
COPY web ./web
COPY scheduler ./scheduler
COPY crawler ./crawler
COPY spiders ./spiders
COPY ingest ./ingest
COPY alerts ./alerts
COPY dedup ./dedup
COPY store ./store
COPY conf ./conf
RUN pip install --no-cache-dir . && rm -rf /src

# One volume holds the config, the archive and the state; relative paths in config.yaml are
# resolved against the config's folder, so they all land in /data.
RUN useradd --system --create-home --home-dir /data feedwatch
USER feedwatch
WORKDIR /data
VOLUME /data
ENV FEEDWATCH_CONFIG=/data/config.yaml \
    PYTHONUNBUFFERED=1

ENTRYPOINT ["feedwatch"]
CMD ["run"]
