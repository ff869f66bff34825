# care360 server image (docs/operations.md, "Deploy").
#   docker build -t care360 .
#   docker run -p 3000:3000 -v care360-data:/data care360
# Multi-stage: the build stage bundles src/ into dist/server.mjs and the web console (console/) into
# dist/console/, with every dependency; the image itself holds production dependencies only, runs as the
# unprivileged `node` user, and keeps its data under the /data volume.
ARG NODE_VERSION=24

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts ./scripts
COPY src ./src
COPY console ./console
RUN npm run build

FROM node:${NODE_VERSION}-bookworm-slim AS production-dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:${NODE_VERSION}-bookworm-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/data
WORKDIR /app
COPY --from=production-dependencies /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The launcher starts the server with the memory settings of its engine (bin/care360.mjs); it forwards
# `docker stop`'s SIGTERM to the server and exits with its code.
COPY bin ./bin
# package.json and the sources: migrations and pglite-init.mjs are read from src/ at run time, and
# `npm run cli -- ...` (backups, keys, the move to PostgreSQL) runs the TypeScript with tsx.
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "bin/care360.mjs"]
