# syntax=docker/dockerfile:1
# One image for every Meridian service; the command selects it:
#   docker run meridian node services/lobby/dist/main.js
#   (services: lobby, authority, gameserver, gateway, console)
# Build: docker build -t meridian:dev .

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: full install, compile every package, then keep production dependencies only ----
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# pnpm at the version pinned in package.json `packageManager` (corepack reads it).
ENV COREPACK_ENABLE_DOWNLOAD_PROMPT=0 CI=true
RUN corepack enable
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
RUN corepack install
# Manifests first so the dependency layer is cached across source edits.
COPY libs/client/package.json libs/client/
COPY libs/netengine/package.json libs/netengine/
COPY libs/protocol/package.json libs/protocol/
COPY libs/service-kit/package.json libs/service-kit/
COPY libs/telemetry/package.json libs/telemetry/
COPY libs/testkit/package.json libs/testkit/
COPY libs/world/package.json libs/world/
COPY services/authority/package.json services/authority/
COPY services/console/package.json services/console/
COPY services/gameserver/package.json services/gameserver/
COPY services/gateway/package.json services/gateway/
COPY services/lobby/package.json services/lobby/
COPY bench/package.json bench/
COPY infra/package.json infra/
RUN pnpm fetch --frozen-lockfile
RUN pnpm install --frozen-lockfile --offline
COPY tsconfig.base.json ./
COPY libs libs
COPY services services
COPY bench bench
RUN pnpm -r --workspace-concurrency=1 build
# Prune: reinstall without devDependencies (from the same store, offline), drop sources and tests.
RUN rm -rf node_modules libs/*/node_modules services/*/node_modules bench/node_modules infra/node_modules \
 && pnpm install --frozen-lockfile --prod --offline \
 && rm -rf libs/*/src libs/*/test services/*/src services/*/test bench infra \
 && find . -name '*.tsbuildinfo' -delete

# ---- runtime ----
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
# tini reaps and forwards SIGTERM so a zone server can checkpoint its players before exiting.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build --chown=root:root /app /app
# The image's built-in `node` user (uid 1000), never root.
USER node
# Gateway (TCP, WebSocket, ops 7602), lobby admin API, console (world map; authority ops in its
# own container), zone ops.
EXPOSE 7600 7601 7602 7480 7700 7800
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "services/lobby/dist/main.js"]
