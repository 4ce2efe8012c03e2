"""docker-py through the dockgate binary, against the real engine.

scripts/test runs this with DOCKGATE_BIN set to the built binary and docker-py installed.
"""
import io
import os
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
import urllib.request
import uuid

import docker
import pytest

IMAGE = os.environ.get("DOCKGATE_TEST_IMAGE", "dockgate-test-busybox:latest")
ENGINE = os.environ.get("DOCKGATE_TEST_SOCKET", "/var/run/docker.sock")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dockgate:
    """The dockgate binary on a free loopback port, configured only by its environment."""

    def __init__(self, **env):
        self.port = free_port()
        full_env = {"PATH": os.environ["PATH"], "SOCKET_PATH": ENGINE,
                    "LISTEN": f"tcp://127.0.0.1:{self.port}", "RUN_AS": "0", **env}
        # A file, not a pipe: a pipe nobody reads would stall the proxy once its log fills it.
        self.log = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen([os.environ["DOCKGATE_BIN"]], env=full_env,
                                        stderr=self.log, text=True)
        # Bounded only so a broken start fails instead of hanging.
        deadline = time.monotonic() + 30
        while not self.answers():
            assert self.process.poll() is None, f"dockgate exited: {self.read_log()}"
            assert time.monotonic() < deadline, f"dockgate did not answer: {self.read_log()}"
            time.sleep(0.05)
        self.client = docker.DockerClient(base_url=f"tcp://127.0.0.1:{self.port}", version="auto")

    def answers(self):
        # Straight to loopback, whatever proxy the environment names.
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with direct.open(f"http://127.0.0.1:{self.port}/_ping", timeout=5) as r:
                return r.status == 200
        except OSError:
            return False

    def read_log(self):
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        self.client.close()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=30)
        self.log.close()
        return code


@pytest.fixture
def engine():
    client = docker.DockerClient(base_url=f"unix://{ENGINE}")
    yield client
    client.close()


@pytest.fixture
def container(engine):
    """A running container, created straight on the engine so any proxy config can look at it."""
    name = f"dockgate-py-{uuid.uuid4().hex[:8]}"
    c = engine.containers.run(IMAGE, ["sh", "-c", "echo hello; echo world; sleep 600"],
                              name=name, detach=True, network_mode="none")
    yield c
    c.remove(force=True)


def test_version_is_negotiated_down_to_the_engines(engine):
    proxy = Dockgate()
    try:
        engine_version = engine.version()["ApiVersion"]
        assert proxy.client.version()["ApiVersion"] == engine_version
        assert proxy.client.api.api_version == engine_version
    finally:
        assert proxy.stop() == 0


def test_read_only_containers_config_lists_inspects_and_streams_logs(container):
    proxy = Dockgate(CONTAINERS="1")
    try:
        names = [c.name for c in proxy.client.containers.list()]
        assert container.name in names
        seen = proxy.client.containers.get(container.name)
        assert seen.attrs["Config"]["Image"] == IMAGE
        stream = seen.logs(stream=True, follow=True)
        assert next(stream).strip() == b"hello"
        assert next(stream).strip() == b"world"
        stream.close()
    finally:
        assert proxy.stop() == 0


def test_refusals_carry_dockgates_message():
    proxy = Dockgate(CONTAINERS="1")
    try:
        with pytest.raises(docker.errors.APIError) as refused:
            proxy.client.networks.list()
        assert refused.value.status_code == 403
        assert "dockgate: GET /networks is not allowed; set NETWORKS=1" in str(refused.value.explanation)
        with pytest.raises(docker.errors.APIError) as refused:
            proxy.client.containers.run(IMAGE, "true", network_mode="none")
        assert "set POST=1" in str(refused.value.explanation)
    finally:
        assert proxy.stop() == 0


def test_run_and_exec_with_output_when_allowed(container):
    proxy = Dockgate(CONTAINERS="1", EXEC="1", POST="1")
    try:
        out = proxy.client.containers.run(IMAGE, ["echo", "from-run"], remove=True, network_mode="none")
        assert out.strip() == b"from-run"
        seen = proxy.client.containers.get(container.name)
        code, out = seen.exec_run(["sh", "-c", "echo from-exec; exit 3"])
        assert (code, out.strip()) == (3, b"from-exec")
    finally:
        assert proxy.stop() == 0


def test_exec_needs_exec_variable(container):
    proxy = Dockgate(CONTAINERS="1", POST="1")
    try:
        with pytest.raises(docker.errors.APIError) as refused:
            proxy.client.containers.get(container.name).exec_run("true")
        assert "dockgate: POST /containers/" in str(refused.value.explanation)
        assert "set EXEC=1" in str(refused.value.explanation)
    finally:
        assert proxy.stop() == 0


def test_refused_upload_raises_dockgates_message(container):
    """docker-py sends a whole body before it reads the answer: the refusal still reaches it."""
    payload = io.BytesIO()
    with tarfile.open(fileobj=payload, mode="w") as tar:
        data = os.urandom(4 << 20)
        info = tarfile.TarInfo("big.bin")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    proxy = Dockgate(CONTAINERS="1")
    try:
        seen = proxy.client.containers.get(container.name)
        with pytest.raises(docker.errors.APIError) as refused:
            seen.put_archive("/", payload.getvalue())
        assert refused.value.status_code == 403
        assert (f"dockgate: PUT /containers/{container.id}/archive is not allowed; "
                "set POST=1 and ALLOW_ARCHIVE=1") in str(refused.value.explanation)
    finally:
        assert proxy.stop() == 0
