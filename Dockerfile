# syntax=docker/dockerfile:1
# AeThex LIVE: build with the Rust image, run on Debian slim with the
# GStreamer runtime plugins and ffmpeg. Keep the package lists in step with
# scripts/lib/common.sh (AETHEX_BUILD_PACKAGES).
#
#   docker build -t aethex-live .
#   docker run -p 1935:1935 -p 8080:8080 -v aethex-data:/data aethex-live

FROM node:20-bookworm-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      pkg-config libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The web UI, embedded in the binary at compile time.
COPY --from=web /web/dist web/dist
RUN cargo build --release --locked -p aethex \
 && install -D target/release/aethex /out/aethex

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates curl ffmpeg \
      gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
      gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin aethex \
 && mkdir -p /data /etc/aethex \
 && chown 10001:10001 /data
COPY --from=build /out/aethex /usr/local/bin/aethex
COPY config/aethex.toml /etc/aethex/aethex.toml
USER 10001:10001
ENV AETHEX_DATA_DIR=/data \
    AETHEX_CONFIG=/etc/aethex/aethex.toml \
    AETHEX_HTTP_ADDR=0.0.0.0:8080 \
    AETHEX_RTMP_ADDR=0.0.0.0:1935
VOLUME ["/data"]
EXPOSE 1935 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/usr/local/bin/aethex"]
CMD ["serve"]
