# syntax=docker/dockerfile:1
# fleetd and fleet-sim in a small image (README.md, "Docker"):
#   docker build -t fleetd:local .
#   docker run --rm fleetd:local --help
# The runtime image runs `fleetd serve` as uid 10001 with config/default.toml at
# /etc/fleetd/fleetd.toml; FLEETD_* variables override it (docs/configuration.md). Inside the
# container fleetd listens on 0.0.0.0:8080 (FLEETD_HTTP_ADDR); publish it on 127.0.0.1 only
# unless a proxy guards it. The HEALTHCHECK is `fleetd healthcheck` (no curl in the image).

# ---- build -------------------------------------------------------------------------------------
# The lockfile needs Rust 1.89 or newer (uuid 1.29 declares it; Cargo.toml's rust-version is
# older); 1.95 is the release the project is built and tested with. Same Debian release as the
# runtime stage, so the binaries link against the same glibc.
FROM rust:1.95.0-bookworm AS build
WORKDIR /src

# Dependencies first, in a layer that changes only with the manifests: the workspace's
# manifests, the bench sources they name, and empty stand-ins for the crates' own sources.
COPY Cargo.toml Cargo.lock ./
COPY simulator/Cargo.toml simulator/
COPY benches benches
RUN mkdir -p src simulator/src \
 && touch src/lib.rs simulator/src/lib.rs \
 && echo 'fn main() {}' > src/main.rs \
 && echo 'fn main() {}' > simulator/src/main.rs \
 && cargo fetch --locked

COPY . .
# The cache mount keeps compiled dependencies between builds (BuildKit); the binaries are
# copied out of it, since a cache mount is not part of the image.
RUN --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --offline -p fleetd -p fleet-sim --bin fleetd --bin fleet-sim \
 && mkdir -p /out \
 && cp target/release/fleetd target/release/fleet-sim /out/

# ---- runtime -----------------------------------------------------------------------------------
FROM debian:12.11-slim
# ca-certificates: the system trust store for TLS to the broker, PostgreSQL, Redis and
# webhook receivers when no CA file is configured. The binaries need nothing else beyond
# glibc and libgcc_s, which the base image has. Not pinned to a package version: bookworm's
# security updates replace it, and the newest trust store is the one wanted.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 fleetd \
 && useradd --uid 10001 --gid fleetd --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin fleetd
COPY --from=build /out/fleetd /out/fleet-sim /usr/local/bin/
COPY config/default.toml /etc/fleetd/fleetd.toml
ENV FLEETD_HTTP_ADDR=0.0.0.0:8080
USER 10001:10001
EXPOSE 8080
# /healthz answers as soon as the HTTP server is up; start-up (migrations) may take a while.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["fleetd", "healthcheck", "--url", "http://127.0.0.1:8080/healthz", "--timeout-ms", "4000"]
# fleetd drains and acknowledges what is in flight on SIGTERM (shutdown.timeout_s, 25 s):
# give it `docker stop --time 35` (docker-compose.yml sets stop_grace_period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["fleetd", "--config", "/etc/fleetd/fleetd.toml"]
CMD ["serve"]
