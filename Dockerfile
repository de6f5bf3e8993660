# hwd in a container: one node per container, its home on the volume at /data.
#   docker build -t hwd . && docker run -d -v hwd-home:/data hwd --name fake.dev
# Options after the image (compose: `command`) are further `hwd start` options; `hwd` is on
# PATH, and HWD_HOME names the home, for `docker exec ... hwd run COMMAND` as typed.
#
# Few layers, and the settings first: with a copying storage driver (vfs) every layer costs a
# copy of the whole file system, so a change to the sources rebuilds only the last two.
FROM node:20-slim

VOLUME /data
EXPOSE 8080
ENTRYPOINT ["hwd", "start", "--host", "0.0.0.0", "--port", "8080"]
ENV HWD_HOME=/data NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
WORKDIR /app

# Dependencies in their own layer, rebuilt only when the lockfile changes. Their scripts wait:
# the package's own `prepare` (the build) needs the sources, copied next.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts

# The sources (.dockerignore lets through only what the build needs), the build that `prepare`
# runs, then only the runtime dependencies, and `hwd` on PATH: the entry point runs it, so its
# first line (#!/usr/bin/env -S node FLAGS) gives node its flags, as everywhere else.
COPY . .
RUN npm run build \
 && npm prune --omit=dev \
 && chmod 755 dist/daemon/cli.js \
 && ln -s /app/dist/daemon/cli.js /usr/local/bin/hwd \
 && hwd --version
