"""A stand-in for Jenkins' Docker plugin: agents provisioned through the
Docker REST API the way the plugin provisions them (there is no Jenkins here).

On the wire, per agent: count containers against the caps, create from the
template's image with port 22 bound to a host port the engine picks, start,
inspect the mapped port, SSH in as ``jenkins`` with the template's key, run
the job, stop and remove.

- **Container cap**: plugin 0.10.2 (docker-java 1.4) counts *every* running
  container (``GET /containers/json``, no filter), so the registry and
  jenkins-slave0 count against it; current plugins (1.1.5+) label their
  containers and count only those (``counting="own"``).
- **Instance cap**: 0.10.2 counts running containers of the template's image
  (by ID, jenkins-slave0 too); current plugins their own of the template.
- **Where it SSHes**: 0.10.2 goes to the host named in the cloud URL when
  the port is bound on 0.0.0.0; behind the nginx name that is host2, where
  nothing listens (``ssh_host`` is the setting current plugins have).
  0.10.2 had no HTTPS: its cloud URL is ``http://vm-with-docker:2375``.
- **Where it stands**: ``forward`` is where the master's API calls leave
  from, ``ssh_forward`` where its SSH to agents does (by default the same):
  a master that reaches the API through host2's proxy from laptop's address
  reaches the agents on the VM's host-only network only through host2.
- **API version**: 0.10.2 speaks 1.19; ``api_version=None`` asks the engine
  (``GET /version``), as docker-py's ``version="auto"`` does.

The agent's host key is read through the API (the file its start wrote)
and pinned: nothing is accepted on first use.
"""

from __future__ import annotations

import base64
import io
import ssl
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import paramiko
import requests
from requests.adapters import HTTPAdapter

from harness import HarnessError, KeyPair
from harness.flows.world import key_only

#: The labels current plugins put on their containers.
JENKINS_ID = "com.nirima.jenkins.plugins.docker.JenkinsId"
TEMPLATE_ID = "com.nirima.jenkins.plugins.docker.JenkinsTemplateId"
#: The command 0.10.2 gives a container whose template sets none.
PLUGIN_COMMAND = ["bash", "-c", "/usr/sbin/sshd -D -p 22"]


class CloudError(HarnessError):
    """The cloud refused or failed to provision an agent, saying why."""


class DockerApiError(CloudError):
    """The Docker API answered with an error."""

    def __init__(self, method: str, path: str, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"{method} {path}: {status} {message}")


class _NamedHost(HTTPAdapter):
    """HTTPS to a forwarded port, verified against ``ca_cert`` for the name the cloud URL has (SNI, certificate)."""

    def __init__(self, server_hostname: str, ca_cert: str) -> None:
        self.server_hostname = server_hostname
        self.context = ssl.create_default_context(cadata=ca_cert)
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["server_hostname"] = self.server_hostname
        kwargs["assert_hostname"] = self.server_hostname
        kwargs["ssl_context"] = self.context
        super().init_poolmanager(*args, **kwargs)


@dataclass
class Template:
    """A Docker plugin agent template: its image, the key of its ``jenkins`` user, its instance cap."""

    image: str
    key: KeyPair
    instance_cap: int = 2
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])


@dataclass
class Agent:
    """A provisioned agent: its container and where its SSH is."""

    container_id: str
    host: str
    port: int
    host_key: str


class DockerCloud:
    """A Docker cloud of the plugin: ``url`` as configured (``https://docker.my.domain``,
    ``http://vm-with-docker:2375``), reached through ``forward(port, host)``, which returns a
    local port that reaches ``host:port`` (``laptop.forward``: the traffic leaves from laptop);
    agents through ``ssh_forward`` (default ``forward``).
    """

    def __init__(
        self,
        url: str,
        forward: Callable[[int, str], int],
        *,
        api_version: str | None = "1.19",
        container_cap: int = 10,
        counting: str = "all",
        ca_cert: str | None = None,
        ssh_host: str | None = None,
        ssh_forward: Callable[[int, str], int] | None = None,
    ) -> None:
        if counting not in ("all", "own"):
            raise ValueError(f"counting={counting!r} is not 'all' (plugin 0.10.2) or 'own' (current plugins)")
        parts = urlsplit(url)
        self.url = url
        self.host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        self.forward = forward
        self.ssh_forward = ssh_forward or forward
        self.container_cap = container_cap
        self.counting = counting
        self.ssh_host = ssh_host or self.host
        self.jenkins_id = uuid.uuid4().hex[:12]
        self.session = requests.Session()
        self.session.trust_env = False  # no proxy or CA bundle from the environment: the cloud's own
        local = forward(port, self.host)
        if parts.scheme == "https":
            if not ca_cert:
                raise ValueError(f"cloud {url} is HTTPS: give the certificate it is to trust (ca_cert)")
            self.session.mount("https://", _NamedHost(self.host, ca_cert))
            self.session.headers["Host"] = self.host
        self.base = f"{parts.scheme}://127.0.0.1:{local}"
        self.api_version = api_version or self._call("GET", "/version", versioned=False)["ApiVersion"]

    def close(self) -> None:
        self.session.close()

    # -- the REST calls ---------------------------------------------------

    def _call(self, method: str, path: str, versioned: bool = True, **kwargs: Any) -> Any:
        full = f"/v{self.api_version}{path}" if versioned else path
        response = self.session.request(method, self.base + full, timeout=60, **kwargs)
        if response.status_code >= 400:
            try:
                message = response.json().get("message", response.text)
            except ValueError:
                message = response.text.strip()
            raise DockerApiError(method, full, response.status_code, message)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.content

    def running(self) -> list[dict[str, Any]]:
        """The running containers the container cap counts."""
        params = {}
        if self.counting == "own":
            params["filters"] = f'{{"label": ["{JENKINS_ID}={self.jenkins_id}"]}}'
        return list(self._call("GET", "/containers/json", params=params))

    # -- agents -------------------------------------------------------------

    def provision(self, template: Template) -> Agent:
        """Provision one agent of ``template``; :class:`CloudError` when a cap refuses it."""
        counted = self.running()
        if len(counted) >= self.container_cap:
            which = "every running container" if self.counting == "all" else "its own containers"
            names = ", ".join(sorted(name.lstrip("/") for c in counted for name in c.get("Names", [])[:1]))
            raise CloudError(
                f"container cap {self.container_cap} of cloud {self.url} reached: {len(counted)} running "
                f"({which}: {names})"
            )
        if self.counting == "own":
            mine = [c for c in counted if (c.get("Labels") or {}).get(TEMPLATE_ID) == template.id]
        else:
            image_id = self._call("GET", f"/images/{template.image}/json")["Id"]
            mine = [c for c in counted if c.get("ImageID", "") == image_id]  # counted: every running one
        if len(mine) >= template.instance_cap:
            raise CloudError(
                f"instance cap {template.instance_cap} of template {template.image} reached: {len(mine)} running"
            )
        body: dict[str, Any] = {
            "Image": template.image,
            "Cmd": PLUGIN_COMMAND,
            "Env": [f"JENKINS_AGENT_SSH_PUBKEY={template.key.public}"],
            "ExposedPorts": {"22/tcp": {}},
            "HostConfig": {"PortBindings": {"22/tcp": [{"HostPort": ""}]}},
        }
        if self.counting == "own":
            body["Labels"] = {JENKINS_ID: self.jenkins_id, TEMPLATE_ID: template.id}
        container_id = self._call("POST", "/containers/create", json=body)["Id"]
        try:
            self._call("POST", f"/containers/{container_id}/start")
            ports = self._call("GET", f"/containers/{container_id}/json")["NetworkSettings"]["Ports"]
            port = int(ports["22/tcp"][0]["HostPort"])
            host_key = self._host_key(container_id)
        except BaseException:
            self.terminate(container_id)
            raise
        return Agent(container_id, self.ssh_host, port, host_key)

    def _host_key(self, container_id: str, timeout: float = 30) -> str:
        """The agent's ed25519 host key, once its start has written it (read through the API)."""
        deadline = time.monotonic() + timeout
        path = "/etc/ssh/ssh_host_ed25519_key.pub"
        while True:
            try:
                archive = self._call("GET", f"/containers/{container_id}/archive", params={"path": path})
                with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                    member = tar.extractfile(tar.getmembers()[0])
                    if member is None:
                        raise CloudError(f"{path} in agent {container_id[:12]} is not a regular file")
                    return key_only(member.read().decode())
            except DockerApiError as e:
                if e.status != 404 or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    @contextmanager
    def ssh(self, agent: Agent, template: Template, timeout: float = 30) -> Iterator[paramiko.SSHClient]:
        """An SSH connection to ``agent`` as jenkins, with the template's key, its host key pinned."""
        local = self.ssh_forward(agent.port, agent.host)
        client = paramiko.SSHClient()
        key_type, key_data = agent.host_key.split()
        client.get_host_keys().add(
            f"[127.0.0.1]:{local}", key_type, paramiko.PKey.from_type_string(key_type, base64.b64decode(key_data))
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.connect(
                    "127.0.0.1",
                    local,
                    "jenkins",
                    pkey=template.key.pkey(),
                    allow_agent=False,
                    look_for_keys=False,
                    timeout=10,
                    banner_timeout=10,
                )
                break
            except (paramiko.SSHException, OSError) as e:
                if time.monotonic() > deadline:
                    raise CloudError(
                        f"SSH to {agent.host}:{agent.port} as jenkins failed ({type(e).__name__}: {e}); "
                        f"the plugin connects to the host of the cloud URL {self.url} when the port is bound "
                        "on 0.0.0.0"
                    ) from e
                time.sleep(0.2)
        try:
            yield client
        finally:
            client.close()

    def run_job(self, agent: Agent, template: Template, command: str) -> tuple[int, str]:
        """Run ``command`` on ``agent`` over SSH, as a build step: exit status and output (both streams)."""
        with self.ssh(agent, template) as client:
            _, stdout, stderr = client.exec_command(command, timeout=60)
            status = stdout.channel.recv_exit_status()
            return status, stdout.read().decode() + stderr.read().decode()

    def terminate(self, agent: Agent | str) -> None:
        """Stop and remove the agent's container."""
        container_id = agent.container_id if isinstance(agent, Agent) else agent
        self._call("POST", f"/containers/{container_id}/stop", params={"t": 1})
        self._call("DELETE", f"/containers/{container_id}", params={"v": 1})
