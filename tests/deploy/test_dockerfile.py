"""The Dockerfile, read by a Dockerfile parser: stages, non-root user, health check, entrypoint, torch pin."""

from __future__ import annotations

import json
import re
import tomllib

import pytest
from dockerfile_parse import DockerfileParser

from .conftest import ROOT


@pytest.fixture(scope="module")
def parser() -> DockerfileParser:
    return DockerfileParser(path=str(ROOT / "Dockerfile"))


def stages(parser: DockerfileParser) -> dict[str, list[dict]]:
    """Instructions per stage name (`FROM … AS name`), in order; "" holds the global ARGs before any FROM."""
    result: dict[str, list[dict]] = {"": []}
    name = ""
    for instruction in parser.structure:
        if instruction["instruction"] == "FROM":
            name = instruction["value"].split()[-1]
            result[name] = []
        result[name].append(instruction)
    return result


def global_args(parser: DockerfileParser) -> dict[str, str]:
    return dict(arg.split("=", 1) for arg in values(stages(parser)[""], "ARG"))


def values(instructions: list[dict], kind: str) -> list[str]:
    return [i["value"] for i in instructions if i["instruction"] == kind]


def test_stages_and_default_target(parser: DockerfileParser) -> None:
    found = stages(parser)
    assert list(found) == ["", "builder", "cuda-base", "cuda-builder", "cuda", "runtime"]
    # `docker build .` builds the last stage: the slim runtime, based on the same Python image as the builder.
    assert values(found["runtime"], "FROM") == ["${PYTHON_IMAGE} AS runtime"]
    assert parser.baseimage == global_args(parser)["PYTHON_IMAGE"]
    assert values(found["builder"], "FROM") == ["${PYTHON_IMAGE} AS builder"]
    assert values(found["cuda-base"], "FROM") == ["${CUDA_IMAGE} AS cuda-base"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", global_args(parser)["PYTHON_IMAGE"])
    assert re.fullmatch(r"nvidia/cuda:\d+\.\d+\.\d+-[\w.-]+", global_args(parser)["CUDA_IMAGE"])


@pytest.mark.parametrize("stage", ["runtime", "cuda"])
def test_serving_stage_runs_ebmm_serve_as_non_root_with_a_healthcheck(parser: DockerfileParser, stage: str) -> None:
    instructions = stages(parser)[stage]
    users = values(instructions, "USER")
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert json.loads(values(instructions, "ENTRYPOINT")[-1]) == ["ebmm", "serve"]
    assert json.loads(values(instructions, "CMD")[-1]) == ["--host", "0.0.0.0", "--port", "8000"]
    assert "8000" in values(instructions, "EXPOSE")
    healthcheck = values(instructions, "HEALTHCHECK")[-1]
    assert "http://127.0.0.1:8000/healthz" in healthcheck and "--interval=" in healthcheck
    copies = values(instructions, "COPY")
    assert any(c.split()[-2:] == ["checkpoints", "./checkpoints"] for c in copies)
    assert any(c.startswith("--from=") and "/opt/venv" in c for c in copies)
    # Nothing runs as root after the USER line.
    user_index = max(i for i, x in enumerate(instructions) if x["instruction"] == "USER")
    assert not [x for x in instructions[user_index:] if x["instruction"] == "RUN"]


def test_torch_is_the_pinned_cpu_build_by_default(parser: DockerfileParser) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pin = next(d for d in pyproject["project"]["dependencies"] if d.startswith("torch"))
    assert pin == f"torch=={global_args(parser)['TORCH_VERSION']}"
    builder = stages(parser)["builder"]
    assert "TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in values(builder, "ARG")
    runs = values(builder, "RUN")
    torch_step = next(i for i, run in enumerate(runs) if '--index-url "${TORCH_INDEX_URL}"' in run)
    project_step = next(i for i, run in enumerate(runs) if "pip install ." in run)
    assert torch_step < project_step, "torch must come from its index before the project pulls it from PyPI"
    cuda_builder = stages(parser)["cuda-builder"]
    assert any(
        a.startswith("CUDA_TORCH_INDEX_URL=https://download.pytorch.org/whl/cu") for a in values(cuda_builder, "ARG")
    )


def test_dockerignore_keeps_what_the_image_copies_and_drops_the_rest(parser: DockerfileParser) -> None:
    lines = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    patterns = [line for line in lines if line and not line.startswith("#")]
    assert patterns[0] == "**", "exclude everything, then re-include what the build needs"
    included = {p[1:] for p in patterns if p.startswith("!")}
    copied = set()
    for instruction in parser.structure:
        if instruction["instruction"] == "COPY" and "--from=" not in instruction["value"]:
            sources = [part for part in instruction["value"].split()[:-1] if not part.startswith("--")]
            copied.update(source.rstrip("/") for source in sources)
    assert copied == included
    for source in copied:
        assert (ROOT / source).exists(), source


def test_the_image_command_is_a_real_cli_command() -> None:
    """The ENTRYPOINT + CMD (`ebmm serve --host 0.0.0.0 --port 8000`) parse as the CLI's own options."""
    from typer.testing import CliRunner

    from ebmm.cli import app

    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0, result.output
    assert "--host" in result.output and "--port" in result.output
