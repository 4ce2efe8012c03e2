# dockgate's image: one static binary FROM scratch, so it builds with no registry access.
# Build it with scripts/image (it compiles the static binary first, then this file).
FROM scratch
COPY target/x86_64-unknown-linux-gnu/release/dockgate /dockgate
# All interfaces inside the container (DISABLE_IPV6=1 for IPv4 only); the socket is mounted here.
ENV LISTEN=tcp://:2375 \
    SOCKET_PATH=/var/run/docker.sock
EXPOSE 2375
# Starts as root only to read the socket's group and bind; then runs as 65534 (RUN_AS) with that
# group and no capabilities.
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s CMD ["/dockgate", "healthcheck"]
ENTRYPOINT ["/dockgate"]
