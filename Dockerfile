# syntax=docker/dockerfile:1
#
# Switchyard in an empty image: the single executable from `deno task compile:bun`, the shared
# libraries it loads, the CA bundle, /etc/passwd, /etc/group and /etc/nsswitch.conf; nothing
# else (no shell).
#
#   docker build -t switchyard .
#   docker run -d --name switchyard -p 80:80 -p 443:443 --stop-timeout 35 \
#     -v "$PWD/switchyard.yaml:/etc/switchyard/switchyard.yaml:ro" switchyard
#   docker kill -s HUP switchyard      # reload the config
#
# --stop-timeout: SIGTERM drains for up to defaults.shutdown_timeout (30s); Docker's own 10s
# would SIGKILL connections still finishing.
#
# Listeners bind ":80" / ":443" inside the container as user 65532: Docker lets any user bind
# low ports in a container's own network namespace (net.ipv4.ip_unprivileged_port_start=0).
# For the admin endpoint and the HEALTHCHECK, give the config `admin: { listen: 0.0.0.0:9901 }`
# (or 127.0.0.1:9901 to keep it inside the container). Transparent mode needs root and
# CAP_NET_ADMIN on the host network: run with --user 0 --cap-add NET_ADMIN --network host.
#
# The rootfs is built by scripts/rootfs.sh, which test/integration/executable_test.ts also runs
# (it chroots into the result as this file's USER and routes traffic through it): keep the
# script, this file and that test in step.

FROM node:22-bookworm-slim AS build
RUN apt-get update \
  && apt-get install -y --no-install-recommends ca-certificates \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# npm ci brings the pinned Bun (and Deno, which runs the task) from package-lock.json.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY deno.json ./
COPY scripts/rootfs.sh scripts/
COPY src/ src/
RUN ./node_modules/.bin/deno task compile:bun \
  && ./switchyard version \
  && sh scripts/rootfs.sh ./switchyard /rootfs

FROM scratch
COPY --from=build /rootfs/ /
USER 65532:65532
WORKDIR /etc/switchyard
EXPOSE 80 443 9901
# Needs the `healthcheck` command (GET /healthz on the config's admin address; exit 0 or 1).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/switchyard", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/switchyard"]
CMD ["run", "-c", "/etc/switchyard/switchyard.yaml"]
