# syntax=docker/dockerfile:1
# The EBMM memory service: `ebmm serve` on port 8000 with the shipped checkpoints baked in.
#
#   docker build -t ebmm:0.1.0 .                                          # CPU torch (default target)
#   docker build -t ebmm:0.1.0-cu128 --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 .
#   docker build -t ebmm:0.1.0-cuda --target cuda .                       # CUDA torch on an nvidia/cuda base
#
# The CUDA wheels carry their own CUDA runtime libraries, so the default slim image runs on a GPU once built
# with the cu128 index (the host's NVIDIA Container Toolkit supplies the driver). The `cuda` target is for
# platforms that want NVIDIA's base image underneath; it builds its own venv with that image's Python 3.11.

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-base-ubuntu22.04
ARG TORCH_VERSION=2.13.0

# --- builder: a virtual environment holding torch and the project, nothing else -------------------------
FROM ${PYTHON_IMAGE} AS builder
ARG TORCH_VERSION
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# torch first, from its own index: the project's `torch==2.13.0` pin is then already satisfied
# (`2.13.0+cpu` and `2.13.0+cu128` both match it), so installing the project never pulls another build.
RUN pip install --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY model ./model
COPY service ./service
COPY ebmm ./ebmm
RUN pip install . && pip check

# --- cuda-builder / cuda: the same venv on NVIDIA's base image (build with --target cuda) -----------------
FROM ${CUDA_IMAGE} AS cuda-base
ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/*

FROM cuda-base AS cuda-builder
ARG TORCH_VERSION
ARG CUDA_TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128
RUN python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
RUN pip install --index-url "${CUDA_TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY model ./model
COPY service ./service
COPY ebmm ./ebmm
RUN pip install . && pip check

FROM cuda-base AS cuda
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 ebmm \
    && useradd --system --uid 10001 --gid ebmm --home-dir /app --shell /usr/sbin/nologin ebmm \
    && mkdir -p /app/data && chown ebmm:ebmm /app/data
COPY --from=cuda-builder /opt/venv /opt/venv
WORKDIR /app
COPY --chown=ebmm:ebmm checkpoints ./checkpoints
USER ebmm:ebmm
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["ebmm", "serve"]
CMD ["--host", "0.0.0.0", "--port", "8000"]

# --- runtime (default): slim Python, non-root, the venv and the checkpoints --------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 ebmm \
    && useradd --system --uid 10001 --gid ebmm --home-dir /app --shell /usr/sbin/nologin ebmm \
    && mkdir -p /app/data && chown ebmm:ebmm /app/data
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY --chown=ebmm:ebmm checkpoints ./checkpoints
USER ebmm:ebmm
EXPOSE 8000
# The slim image has no curl: ask /healthz with the interpreter that is there anyway.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["ebmm", "serve"]
CMD ["--host", "0.0.0.0", "--port", "8000"]
