# The PrestaShop mail bridge as a container image: `bridge run` as a non-root user, its state in a volume.
#
#   docker build -t prestashop-mail-bridge .
#   docker run --rm prestashop-mail-bridge demo --output /tmp/demo     # no configuration needed
#   docker run --rm -it --user "$(id -u):$(id -g)" -v "$PWD:/config" \
#       prestashop-mail-bridge --env-file /config/.env init           # the setup wizard writes ./.env
#   docker run -d --name prestashop-mail-bridge --restart unless-stopped --env-file .env \
#       -v prestashop-mail-bridge-state:/var/lib/prestashop-mail-bridge prestashop-mail-bridge
#
# Settings come from the environment at run time (`--env-file .env`, compose's `env_file:`, `-e NAME=...`):
# nothing secret is in the image, and .dockerignore keeps every .env out of the build context.
# docs/compose.example.yaml runs it beside PrestaShop's official image; the guide (section 7) explains how
# the bridge reaches the shop inside the compose network.

# A pinned tag; pin its digest too (`docker pull` prints it) if you rebuild on a schedule.
ARG PYTHON_IMAGE=python:3.11.15-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bridge ./bridge
COPY templates ./templates
RUN python3 -m venv /opt/bridge \
    && /opt/bridge/bin/pip install --no-cache-dir --disable-pip-version-check /src

FROM ${PYTHON_IMAGE}
# STATE_DIR: the volume below. BRIDGE_IMAGE: tells `bridge init` it runs in this image (it then ends with
# the container command and leaves STATE_DIR to the image).
ENV PATH=/opt/bridge/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    STATE_DIR=/var/lib/prestashop-mail-bridge \
    BRIDGE_IMAGE=prestashop-mail-bridge
# A fixed uid and gid, so a state volume keeps its owner across rebuilds.
RUN groupadd --system --gid 10001 bridge \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /var/lib/prestashop-mail-bridge \
        --shell /usr/sbin/nologin bridge \
    && chmod 0700 /var/lib/prestashop-mail-bridge
COPY --from=build /opt/bridge /opt/bridge
COPY docker/healthcheck.py /opt/bridge/healthcheck.py
USER 10001:10001
WORKDIR /var/lib/prestashop-mail-bridge
# The state store, the lock and the unsubscribe key: keep this volume, one per shop.
VOLUME ["/var/lib/prestashop-mail-bridge"]
# Healthy while `bridge run` holds its lock and polled the shop within three poll intervals (`bridge
# status --json`); a shop that is down is not the container's illness: the alerts and `status` tell it.
HEALTHCHECK --interval=1m --timeout=30s --start-period=5m --retries=3 \
    CMD ["/opt/bridge/bin/python", "/opt/bridge/healthcheck.py"]
# SIGTERM (docker stop) lets the email in flight finish and be recorded.
STOPSIGNAL SIGTERM
ENTRYPOINT ["bridge"]
CMD ["run"]
