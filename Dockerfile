# dockgate's image: `docker build -t dockgate .` on a clone. A builder stage compiles one static
# binary (static glibc, so no musl toolchain) from the official Rust image; the image itself is
# that binary FROM scratch.
#
# This needs a registry (the rust image, crates.io). Offline, scripts/image builds the same image
# from a binary compiled on the host, with Dockerfile.prebuilt; that is the path the test suite
# takes, and the only one tested on the project's (registry-less) test machine.
ARG RUST_IMAGE=rust:1
FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY bench bench
COPY benches benches
# --target keeps build scripts and proc macros dynamic; only the product is linked statically.
RUN target=$(rustc -vV | sed -n 's/^host: //p') \
 && RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release --locked --target "$target" --bin dockgate \
 && cp "target/$target/release/dockgate" /dockgate

FROM scratch
COPY --from=build /dockgate /dockgate
# All interfaces inside the container (DISABLE_IPV6=1 for IPv4 only); the socket is mounted here.
ENV LISTEN=tcp://:2375 \
    SOCKET_PATH=/var/run/docker.sock
EXPOSE 2375
# Starts as root only to read the socket's group and bind; then runs as 65534 (RUN_AS) with that
# group and no capabilities.
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s CMD ["/dockgate", "healthcheck"]
ENTRYPOINT ["/dockgate"]
