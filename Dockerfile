# fleetbench: the binary (gateway, runner shards, fleet, merge) in a small image.
#   docker build -t registry.example.com/fleetbench:0.1.0 .
#   docker push registry.example.com/fleetbench:0.1.0
# Not built in CI (no registry or cluster is reachable there); see docs/distributed.md.

# --- build ---
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# Only the binary, in release mode (the workspace's benches and fuzz targets are not needed).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p fleetbench --bin fleetbench \
 && cp target/release/fleetbench /usr/local/bin/fleetbench

# --- run ---
# debian-slim rather than distroless: the merge Job's wait loop needs /bin/sh.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/fleetbench /usr/local/bin/fleetbench
COPY scenarios /scenarios
# The manifests run as this user (runAsNonRoot).
USER 65532:65532
WORKDIR /tmp
ENTRYPOINT ["fleetbench"]
CMD ["--help"]
