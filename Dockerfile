# hwd in a container: one node per container, its home on the volume at /data.
#   docker build -t hwd . && docker run -d -v hwd-home:/data hwd --name fake.dev
# Options after the image (compose: `command`) are further `hwd start` options; `hwd` is on
# PATH, and HWD_HOME names the home, for `docker exec ... hwd run COMMAND` as typed.
#
# Few layers, and the settings first: with a copying storage driver (vfs) every layer costs a
# copy of the whole file system, so a change to the sources rebuilds only the last few.
#
# BASE: an image with Node 20 and its headers beside the node binary (node:20-slim has them in
# /usr/local/include/node); test/compose.test.ts adds them to a local stand-in that lacks them.
ARG BASE=node:20-slim

# The build stage: the native addon (better-sqlite3) compiles here when its prebuilt binary
# cannot be fetched, with what node-gyp needs (python3, make, g++, Node's headers, found from
# the node binary's prefix); the tools stay behind in this stage.
FROM ${BASE} AS build
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends python3 make g++ >/dev/null \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app

# Dependencies in their own layer, rebuilt only when the lockfile changes. Their scripts wait,
# but better-sqlite3's build: the package's own `prepare` (the build) needs the sources.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts \
 && npm_config_nodedir="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")" npm rebuild better-sqlite3

# The sources (.dockerignore lets through only what the build needs), the build that `prepare`
# runs, then only the runtime dependencies.
COPY . .
RUN npm run build && npm prune --omit=dev

# The image: the built tree, and `hwd` on PATH: the entry point runs it, so its first line
# (#!/usr/bin/env -S node FLAGS) gives node its flags, as everywhere else.
FROM ${BASE}
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["hwd", "start", "--host", "0.0.0.0", "--port", "8080"]
ENV HWD_HOME=/data NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
WORKDIR /app
COPY --from=build /app /app
RUN chmod 755 dist/daemon/cli.js \
 && ln -s /app/dist/daemon/cli.js /usr/local/bin/hwd \
 && hwd --version
