# syntax=docker/dockerfile:1
# Coffer's image: `coffer serve` by default; the same image runs `worker`, `migrate` and `verify`
# (see compose.yaml). Not built on the machine this was written on (it has no Docker engine):
# docs/operations.md says what was checked instead.

# Debian bookworm (glibc): @node-rs/argon2 ships a prebuilt linux-x64-gnu / linux-arm64-gnu
# binary as an optional npm package, so nothing is compiled and no toolchain is needed.
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# npm ci installs the workspaces (the typed client, the web console) too: it needs each one's
# package.json before it runs, or the lock file and the tree disagree.
COPY package.json package-lock.json ./
COPY packages/client/package.json ./packages/client/
COPY packages/console/package.json ./packages/console/
# --ignore-scripts: `prepare` would run the build before the sources are here.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY packages ./packages
# The server (tsc), the client (tsc) and the console (Vite, into dist/console).
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    DATA_DIR=/var/lib/coffer \
    PORT=3000
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/client/package.json ./packages/client/
COPY packages/console/package.json ./packages/console/
# Production dependencies only; --ignore-scripts again because `prepare` needs the dev compiler.
# The argon2 binary and the DejaVu fonts of PDF statements are npm packages: they come with it.
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force \
    && mkdir -p /var/lib/coffer && chown node:node /var/lib/coffer
# dist holds the server and, in dist/console, the built web console that it serves at /console/.
COPY --from=build /app/dist ./dist
# The image's own `node` user (uid 1000): the process can write only its data directory.
USER node
EXPOSE 3000
# Liveness only, as /health/live is: a database outage must not get the container restarted.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Exec form, node itself as PID 1: SIGTERM reaches Coffer's handler (drain, graceful close) with
# no shell or npm in front to swallow it.
STOPSIGNAL SIGTERM
CMD ["node", "dist/cli/main.js", "serve"]
