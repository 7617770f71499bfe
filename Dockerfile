# syntax=docker/dockerfile:1.7
# The reference server (`mcp-server serve`) as a small, non-root image.
#
#   docker build -t mcp-server .
#   docker run --rm -p 8000:8000 -e MCP_AUTH_MODE=jwt -e MCP_AUTH_JWT_JWKS_URL=... mcp-server
#
# Stage 1 resolves the locked dependencies with uv (cached layer: only the lock and the
# package manifests are copied first), then installs the workspace packages as wheels
# (--no-editable) so the runtime stage needs the virtualenv only, not the sources.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9

FROM ${UV_IMAGE} AS uv

FROM ${PYTHON_IMAGE} AS build
COPY --from=uv /uv /bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# Dependencies only: changes to the sources do not invalidate this layer.
COPY pyproject.toml uv.lock ./
COPY packages/mcp-server/pyproject.toml packages/mcp-server/README.md packages/mcp-server/LICENSE packages/mcp-server/
COPY packages/mcp-upstream-client/pyproject.toml packages/mcp-upstream-client/README.md packages/mcp-upstream-client/LICENSE packages/mcp-upstream-client/
COPY packages/mcp-testkit/pyproject.toml packages/mcp-testkit/README.md packages/mcp-testkit/LICENSE packages/mcp-testkit/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --package mcp-fastapi-server --no-install-workspace
# Then the packages themselves, as wheels (no link back to /src).
COPY packages/ packages/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --package mcp-fastapi-server --no-editable

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 mcp \
    && useradd --system --uid 10001 --gid mcp --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin mcp
COPY --from=build --chown=root:root /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FASTMCP_CHECK_FOR_UPDATES=off \
    MCP_LOG_FORMAT=json
WORKDIR /app
# The search index, built once into the image: replicas open it read-only (it is root's)
# instead of indexing every document at each start. Serving your own documents: COPY them
# in and set MCP_DOCS_DIR before this step (docs/deployment.md, "A prebuilt search index").
ENV MCP_INDEX_PATH=/app/index/search.db
RUN mkdir -p /app/index && mcp-server index
USER 10001:10001
EXPOSE 8000
# Liveness for plain `docker run`; orchestrators use their own probes on /healthz, /readyz.
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
# uvicorn stops accepting on SIGTERM and gives in-flight requests --graceful-timeout seconds.
STOPSIGNAL SIGTERM
ENTRYPOINT ["mcp-server"]
# Binding 0.0.0.0 needs MCP_AUTH_MODE=jwt (or MCP_AUTH_ALLOW_ANONYMOUS=true behind a
# gateway that authenticates); `serve` refuses to start otherwise.
CMD ["serve", "--host", "0.0.0.0", "--port", "8000", "--graceful-timeout", "25"]
