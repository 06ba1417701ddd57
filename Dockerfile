# syntax=docker/dockerfile:1
#
# Upkeep API / workers image. TypeScript runs through tsx (a runtime dependency), so the only
# build step is the web console's (stage `web`), whose static files the API serves at `/`.
# The same image serves both entry points:
#   API:     npx tsx src/server.ts   (default CMD)
#   workers: npx tsx workers/main.ts (see docker-compose.yml)

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- npm: the pinned npm and the manifests, shared by the two install stages ---------------
FROM ${NODE_IMAGE} AS npm
# npm 11 honours package.json "allowScripts" (npm 10, bundled with Node 20, would run every
# dependency's install script); pin the version the lock file is made with.
ARG NPM_VERSION=11.19.1
ENV NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false
RUN npm install --global "npm@${NPM_VERSION}" && npm cache clean --force
WORKDIR /app
COPY package.json package-lock.json ./

# ---- deps: production node_modules -----------------------------------------------------
FROM npm AS deps
RUN npm ci --omit=dev && npm cache clean --force

# ---- web: the console's static files (vite and preact are dev dependencies) --------------
FROM npm AS web
RUN npm ci && npm cache clean --force
COPY web ./web
RUN node web/build.mjs --force

# ---- runtime ---------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false
WORKDIR /app
# Code and dependencies stay owned by root (read-only for the app); only .data is writable.
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY workers ./workers
COPY migrations ./migrations
COPY --from=web /app/web/dist ./web/dist
RUN mkdir -p /app/.data && chown node:node /app/.data
USER node
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["npx", "tsx", "src/server.ts"]
