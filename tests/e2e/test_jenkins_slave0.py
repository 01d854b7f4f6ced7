"""The jenkins-slave0 flow, end to end, on each OS of the matrix.

Hardened, everything works. As written (the 2015 setup), each test asserts
what that setup does on the OS at hand, with the reason, where today's
distributions break it (FIELD-NOTES "The jenkins-slave0 flow on today's
distributions").
"""

from __future__ import annotations

import json
import re
import shlex
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.fleet import Fleet
from harness.flows.jenkins_slave0 import AGENT_PORT, API_PORT, REGISTRY_PORT, VM_NAME, JenkinsSlave0, provision
from harness.flows.jenkins_slave0.plugin import CloudError, DockerApiError, DockerCloud, Template
from harness.spec import OsSpec
from harness.vps import Vps
from tests.e2e.environment import images_or_skip

pytestmark = pytest.mark.docker


#: The as-written proxy's handshake on this OS's own OpenSSL, on the VPS's loopback: an ``s_server``
#: that speaks TLS 1.0 alone, as nginx's ``ssl_protocols SSLv3 TLSv1`` sets it (the other versions'
#: ``SSL_OP_NO_*``), and an ``s_client`` with the OS's defaults, as curl's. "yes" when they agree on a
#: cipher: openssl.cnf's MinProtocol, the default security level and the distribution's patches all count.
TLS1_LOOPBACK = r"""
d=$(mktemp -d) && cd "$d" || exit 1
openssl req -x509 -newkey rsa:2048 -nodes -keyout k.pem -out c.pem -subj /CN=tls1 -days 1 >/dev/null 2>&1
only_tls1='-no_tls1_1 -no_tls1_2'
openssl s_server -help 2>&1 | grep -q -- -no_tls1_3 && only_tls1="$only_tls1 -no_tls1_3"
mkfifo input
# shellcheck disable=SC2086 # the options, one word each
openssl s_server -accept 4433 -cert c.pem -key k.pem $only_tls1 <input >/dev/null 2>&1 &
server=$!
exec 3>input # s_server quits at the end of its input: this keeps it open
said=''
for _ in $(seq 50); do
    said=$(echo | openssl s_client -connect 127.0.0.1:4433 2>&1)
    case "$said" in *CONNECTED*) break ;; esac
    sleep 0.1
done
kill "$server" 2>/dev/null; exec 3>&-; cd / && rm -rf "$d"
case "$said" in *"Cipher is "[A-Z0-9]*) echo yes ;; *CONNECTED*) echo no ;; *) echo "no answer: $said" ;; esac
"""


def tls1_handshake_works(vps: Vps) -> bool:
    """Whether this OS's OpenSSL completes the as-written proxy's TLS 1.0 handshake (laptop and host2 run
    the same one), decided by that OpenSSL itself: a TLS 1.0 handshake on the VPS's loopback
    (:data:`TLS1_LOOPBACK`). Its policy is more than a version and a config line: Debian from 10 sets
    MinProtocol TLSv1.2 in openssl.cnf, OpenSSL 3 has no TLS 1.0 signature algorithm at level 1 and up,
    and Ubuntu from 20.04 patches security level 2 to refuse TLS below 1.2 (which a cipher list does not
    show); OpenSSL 1.0 (centos:7) has none of them."""
    said = vps.run(TLS1_LOOPBACK, timeout=60).stdout.strip()
    assert said in ("yes", "no"), f"the loopback TLS 1.0 handshake did not run: {said}"
    return said == "yes"


CURL = "curl -sS --cacert /home/myuser/.docker/ca.pem"


def docker_cli(command: str) -> str:
    """``command`` run by myuser's docker CLI against host2's proxy, under a terminal (``script``)."""
    env = "DOCKER_HOST=tcp://docker.my.domain:443 DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=/home/myuser/.docker"
    inner = f"{env} docker {command}"
    return f"script -qec {json.dumps(inner)} /dev/null"


def journal(world: JenkinsSlave0, text: str) -> list[str]:
    """host2's syslog lines (the journal) that contain ``text``."""
    lines = world.host2.run("journalctl --no-pager -o cat", sudo=True).stdout.splitlines()
    return [line for line in lines if text in line]


def exec_start_status(world: JenkinsSlave0) -> str:
    """The HTTP status laptop gets through the proxy for an attached exec start with ``Upgrade: tcp``
    (what ``docker exec -it`` sends): 101 when the upgrade gets through."""
    exec_id = json.loads(
        world.laptop.run(
            f'{CURL} -X POST -H \'Content-Type: application/json\' -d \'{{"Cmd": ["true"], "AttachStdout": true}}\' '
            "https://docker.my.domain/containers/jenkins-slave0/exec",
            user="myuser",
        ).stdout
    )["Id"]
    started = world.laptop.run(
        f"{CURL} -s -o /dev/null -w '%{{http_code}}' --max-time 5 -X POST -H 'Connection: Upgrade' "
        "-H 'Upgrade: tcp' -H 'Content-Type: application/json' -d '{\"Detach\": false, \"Tty\": false}' "
        f"https://docker.my.domain/exec/{exec_id}/start",
        user="myuser",
        check=False,
    )
    return started.stdout.strip()


def forwarded_agent_sockets(world: JenkinsSlave0) -> list[str]:
    """The agent sockets sshd makes on host2 for the ``docker`` account while laptop's myuser is
    connected with ``ssh -A`` and an agent holding its key (in /tmp, or ~/.ssh/agent from OpenSSH 10.1).

    The session stays until host2 has been looked at (a file laptop waits for), not for a fixed time.
    """
    done = f"/tmp/agent-session-{uuid.uuid4().hex[:8]}"
    session = (
        'eval "$(ssh-agent -s)" >/dev/null && ssh-add ~/.ssh/id_rsa 2>/dev/null && '
        "{ ssh -A -o BatchMode=yes docker@host2 'sleep 120' & pid=$!; "
        f"timeout 60 sh -c 'until [ -e {done} ]; do sleep 0.05; done'; "
        "kill $pid; wait $pid; ssh-agent -k >/dev/null; }"
    )
    with ThreadPoolExecutor(1) as pool:
        connected = pool.submit(world.laptop.run, session, user="myuser", timeout=90, check=False)
        try:
            # The forced command execs ssh on to vm once the session (and any agent socket) is set up.
            found = world.host2.run(
                "timeout 30 sh -c 'until ps -u docker -o comm= | grep -qx ssh; do sleep 0.05; done' || "
                "{ echo 'no session of docker on host2' >&2; exit 1; }; "
                "find /tmp /home/docker -type s -user docker 2>/dev/null",
                sudo=True,
                check=False,
            )
        finally:
            world.laptop.run(f"touch {done}", user="myuser")
            connected.result()
    assert found.ok, found.stderr
    return found.stdout.split()


def x11_request(world: JenkinsSlave0) -> str:
    """What laptop's ssh -v says of asking host2's docker account for X11 forwarding (a fake cookie: laptop
    has no xauth). sshd names the key's restriction when that is what refuses it."""
    return world.laptop.run(
        "DISPLAY=:0 ssh -o BatchMode=yes -o ForwardX11=yes -o ForwardX11Trusted=yes -v docker@host2 true 2>&1 "
        "| grep -i 'x11'",
        user="myuser",
        check=False,
    ).stdout


def replace_own_keys(world: JenkinsSlave0) -> str:
    """What ``ssh docker@host2 hostname`` prints after the docker account replaced its own
    ~/.ssh/authorized_keys with laptop's key, without the forced command."""
    key = world.laptop.read_text("/home/myuser/.ssh/id_rsa.pub").strip()
    world.host2.run(f"echo '{key}' > ~/.ssh/authorized_keys", user="docker")
    return world.laptop_ssh("docker@host2", "hostname").stdout


#: What the VM serves: SSH, the Docker API, the registry, the agent's SSH.
VM_PORTS = (22, API_PORT, REGISTRY_PORT, AGENT_PORT)


def vm_unreachable_from(world: JenkinsSlave0, name: str) -> None:
    """Assert that host ``name`` of the public network reaches none of the VM's ports, by name or address:
    the VM is on a host-only network that only host2 is on (the write-up's drawing)."""
    vps, vm_ip = world.hosts[name], world.vm.ip_on(world.private)
    assert list(world.vm.container.attrs["NetworkSettings"]["Networks"]) == [world.private.name], (
        "the VM is on its host-only network alone: no other network (the engine's bridge) leads to it"
    )
    assert list(vps.container.attrs["NetworkSettings"]["Networks"]) == [world.public.name], (
        f"{name} is on the public network alone: its packets keep its own address, which the VM has no route to"
    )
    routes = world.vm.run("ip route").stdout
    assert not re.search(r"^default ", routes, re.M), f"no gateway on a host-only network: {routes}"
    resolved = vps.run(f"getent hosts {VM_NAME}", check=False)
    assert not resolved.ok, f"{name} resolves {VM_NAME}: {resolved.stdout}"
    probes = " ".join(
        f"(timeout 3 bash -c 'exec 3<>/dev/tcp/{vm_ip}/{port}' 2>/dev/null && echo {port}:open || echo {port}:closed) &"
        for port in VM_PORTS
    )
    said = vps.run(f"{probes} wait").stdout.split()
    assert sorted(said) == sorted(f"{port}:closed" for port in VM_PORTS), f"{name} reaches the VM: {said}"
    from_host2 = world.host2.run(f"timeout 3 bash -c 'exec 3<>/dev/tcp/{VM_NAME}/{AGENT_PORT}'", check=False)
    assert from_host2.ok, "host2, on both networks, reaches the VM"


def engine_major(world: JenkinsSlave0) -> int:
    return int(world.vm.run("docker version -f '{{.Server.Version}}'").stdout.split(".")[0])


@pytest.fixture
def cloud_closer() -> Iterator[list[DockerCloud]]:
    clouds: list[DockerCloud] = []
    yield clouds
    for cloud in clouds:
        cloud.close()


# -- hardened ---------------------------------------------------------------


def test_hops_reach_the_vm_and_the_agent_and_leave_a_syslog_trail(jenkins_slave0: JenkinsSlave0) -> None:
    world = jenkins_slave0
    laptop_ip = world.laptop.ip_on(world.public)
    for name in ("laptop", "outsider"):
        vm_unreachable_from(world, name)
    answer = world.laptop_ssh("docker@host2", "whoami; hostname")
    assert answer.stdout == "myuser\nvm\n", "as myuser, on VM-with-docker"
    line = f"docker_ssh.sh: caller=myuser host={laptop_ip} command=whoami; hostname"
    assert journal(world, line), "host2's syslog names the caller, the client's address and the command"

    refused = world.host2.run("/usr/local/bin/docker_ssh.sh mallory", user="docker", check=False)
    assert (refused.exit_status, refused.stdout) == (1, "Unknown caller: mallory. Access denied.\n")

    marker = f"/tmp/hop-{uuid.uuid4().hex[:8]}"
    echoed = world.laptop_ssh("docker@host2", f"touch {marker}; echo /usr/local/bin/docker_ss*")
    assert echoed.stdout == "/usr/local/bin/docker_ss*\n", "the glob reached vm unexpanded: host2 never evaluated it"
    assert world.vm.run(f"stat -c %U {marker}").stdout == "myuser\n"
    assert not world.host2.run(f"test -e {marker}", check=False).ok

    remote = world.laptop_ssh("docker@host2", "true", "-o ExitOnForwardFailure=yes -R 15001:127.0.0.1:22", check=False)
    assert remote.exit_status == 255 and "remote port forwarding failed" in remote.stderr
    local = world.laptop.run(
        # Until ssh listens on 15000 (it has logged in), then one connection through it; then the session ends.
        "ssh -o BatchMode=yes -L 127.0.0.1:15000:vm-with-docker:22 docker@host2 'sleep 120' 2>/tmp/l.err & pid=$!; "
        "timeout 30 sh -c 'until ss -ltn | grep -q 127.0.0.1:15000; do sleep 0.05; done'; "
        "timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/15000; head -c 4 <&3' || true; "
        "timeout 10 sh -c 'until grep -q prohibited /tmp/l.err; do sleep 0.05; done'; "
        "kill $pid; wait $pid; cat /tmp/l.err",
        user="myuser",
    )
    assert "SSH-" not in local.stdout and "administratively prohibited" in local.stdout, local.stdout
    assert forwarded_agent_sockets(world) == [], "restrict: no agent forwarding to the bastion"
    x11 = x11_request(world)
    assert re.search(r"Remote: X11 forwarding disabled (in user configuration file|by key options)", x11), x11
    assert world.host2.run("stat -c '%U %a' /etc/ssh/authorized_keys/docker").stdout == "root 644\n"
    assert replace_own_keys(world) == "vm\n", "sshd reads root's key file for the hop accounts, not their own"

    agent = world.laptop_ssh("jenkins_slave0@host2", "whoami; hostname; java -version 2>&1")
    who, hostname, java = agent.stdout.split("\n", 2)
    container = world.vm.run("docker inspect -f '{{.Config.Hostname}}' jenkins-slave0").stdout.strip()
    assert (who, hostname) == ("jenkins", container), "as jenkins, inside the jenkins-slave0 container"
    assert re.search(r'(openjdk|java) version "', java), java
    assert journal(world, f"jenkins_slave0_ssh.sh: caller=myuser host={laptop_ip} command=whoami"), "the real caller"


def test_the_proxy_serves_the_api_to_laptop_only_within_its_limits(jenkins_slave0: JenkinsSlave0) -> None:
    world, laptop = jenkins_slave0, jenkins_slave0.laptop
    version = json.loads(laptop.run(f"{CURL} https://docker.my.domain/version", user="myuser").stdout)
    assert version["Version"] == world.vm.run("docker version -f '{{.Server.Version}}'").stdout.strip()
    info = json.loads(laptop.run(f"{CURL} https://docker.my.domain/info", user="myuser").stdout)
    assert info["Name"] == "vm", "VM-with-docker's own engine"
    body = json.dumps({"Image": world.os.registry_ref, "Cmd": ["sleep", "300"]})
    created = laptop.run(
        f"{CURL} -X POST -H 'Content-Type: application/json' -d '{body}' "
        "'https://docker.my.domain/containers/create?name=via-proxy'",
        user="myuser",
    )
    container = json.loads(created.stdout)["Id"]
    laptop.run(f"{CURL} -X POST https://docker.my.domain/containers/{container}/start", user="myuser")
    assert world.vm.run("docker inspect -f '{{.State.Running}}' via-proxy").stdout == "true\n"

    forbidden = world.outsider.run(
        "curl -sk -o /dev/null -w '%{http_code}' https://docker.my.domain/version", check=False
    )
    assert forbidden.stdout == "403", "outsider is on no allow-list"
    too_big = laptop.run(
        "head -c 41943041 /dev/zero > /tmp/context.tar && "
        f"{CURL} -o /dev/null -w '%{{http_code}}' -H 'Content-Type: application/x-tar' "
        "--data-binary @/tmp/context.tar https://docker.my.domain/build; rm -f /tmp/context.tar",
        user="myuser",
    )
    assert too_big.stdout == "413", "client_max_body_size 40m"

    assert exec_start_status(world) == "101", "the Upgrade/Connection headers get through"
    tty = laptop.run(docker_cli("exec -it via-proxy sh -c 'tty; echo through-the-proxy'"), user="myuser", timeout=60)
    assert "/dev/pts/" in tty.stdout and "through-the-proxy" in tty.stdout, "a 101 upgrade through nginx"


def running_after_boot(vm: Vps, *expected: str) -> list[str]:
    """The VM's running containers once ``expected`` run, or after 60 s. Its engine answers before it has
    restarted the --restart=always containers (Docker 18.09 in a loaded run): a look at once can see none."""
    names = "docker ps --format '{{.Names}}'"
    wait = "; ".join(f"until {names} | grep -qx {name}; do sleep 0.2; done" for name in expected)
    vm.run(f"timeout 60 sh -c {shlex.quote(wait)}", check=False, timeout=90)
    return vm.run(names).stdout.split()


def test_registry_keeps_images_across_recreation_and_reboot(jenkins_slave0: JenkinsSlave0) -> None:
    world, vm = jenkins_slave0, jenkins_slave0.vm
    image = "localhost:5000/team/base:1"
    vm.run(f"docker tag {world.os.registry_ref} {image} && docker push {image} >/dev/null", timeout=120)
    vm.run(f"docker rmi {image} >/dev/null && docker pull {image} >/dev/null", timeout=120)

    vm.run("docker rm -f registry >/dev/null && docker rmi -f " + image + " >/dev/null")
    steps = world.apply()
    assert [s.changed for s in steps if s.changed] == [("container registry",)], "the operator's run recreates it"
    vm.run(f"docker pull {image} >/dev/null", timeout=120)  # its data is on /var/docker-registry

    vm.restart()
    running = running_after_boot(vm, "registry", "jenkins-slave0")
    assert {"registry", "jenkins-slave0"} <= set(running), "--restart=always on both"
    catalog = vm.run("timeout 30 sh -c 'until curl -fsS localhost:5000/v2/_catalog; do sleep 0.2; done'").stdout
    assert json.loads(catalog) == {"repositories": ["team/base"]}
    assert world.laptop_ssh("docker@host2", "hostname").stdout == "vm\n"
    assert world.laptop_ssh("jenkins_slave0@host2", "whoami").stdout == "jenkins\n"

    unreachable = world.host2.run("curl -sS http://vm-with-docker:5000/v2/", check=False)
    assert unreachable.exit_status == 7, "the registry listens on the VM's loopback only, not for host2"
    agent_port = vm.run("docker port jenkins-slave0 22").stdout.split()
    assert agent_port == [f"{vm.ip_on(world.private)}:22000"], "the agent on the private network only"

    vm_ip = vm.ip_on(world.private)
    vm.disconnect(world.private)
    cut = world.laptop_ssh("docker@host2", "hostname", check=False)
    assert cut.exit_status == 255 and VM_NAME in cut.stderr, cut.stderr
    vm.connect(world.private)
    if world.snapshot_key:  # a copy's networks have the subnets its snapshot had: the address is kept
        assert vm.ip_on(world.private) == vm_ip, "the cable plugged back: the address dockerd and the agent listen on"
    assert world.laptop_ssh("docker@host2", "hostname").stdout == "vm\n"


def test_docker_plugin_agents_come_and_go_within_their_caps(
    jenkins_slave0: JenkinsSlave0, cloud_closer: list[DockerCloud]
) -> None:
    world = jenkins_slave0
    template = Template("jenkins-slave0", world.jenkins_key, instance_cap=2)
    # A current plugin: the API over host2's proxy from laptop's address (the allow-list's), and SSH
    # to its agents, which are on the VM's host-only network, through host2.
    proxy = DockerCloud(
        "https://docker.my.domain",
        world.laptop.forward,
        api_version=None,
        counting="own",
        container_cap=5,
        ca_cert=world.cert,
        ssh_host=VM_NAME,
        ssh_forward=world.host2.forward,
    )
    cloud_closer.append(proxy)
    first, second = proxy.provision(template), proxy.provision(template)
    for agent in (first, second):
        status, output = proxy.run_job(agent, template, "java -version")
        assert status == 0 and "version" in output
    with pytest.raises(CloudError, match="instance cap 2 of template jenkins-slave0 reached: 2 running"):
        proxy.provision(template)
    proxy.terminate(first)
    proxy.terminate(second)

    # Plugin 0.10.2 counts every running container: the registry and jenkins-slave0 take two of three.
    # It speaks plain HTTP to :2375 from the Jenkins VM on the host-only network (Architecture #2): host2's side.
    direct = DockerCloud(
        f"http://{VM_NAME}:2375", world.host2.forward, api_version=None, container_cap=3, counting="all"
    )
    cloud_closer.append(direct)
    agent = direct.provision(Template("jenkins-slave0", world.jenkins_key, instance_cap=5))
    with pytest.raises(CloudError, match=r"container cap 3 .* 3 running \(every running container: "):
        direct.provision(template)
    direct.terminate(agent)

    # Without a host to SSH to (0.10.2's only way), a plugin behind the nginx name SSHes to host2,
    # where nothing listens on the agent's port.
    no_ssh_host = DockerCloud("https://docker.my.domain", world.laptop.forward, api_version=None, ca_cert=world.cert)
    cloud_closer.append(no_ssh_host)
    stranded = no_ssh_host.provision(template)
    try:
        with (
            pytest.raises(CloudError, match=f"SSH to docker.my.domain:{stranded.port} as jenkins failed"),
            no_ssh_host.ssh(stranded, template, timeout=2),
        ):
            pass
    finally:
        no_ssh_host.terminate(stranded)
    names = world.vm.run("docker ps -a --format '{{.Names}}'").stdout.split()
    assert sorted(names) == ["jenkins-slave0", "registry"], "nothing left on vm's engine"


def test_a_second_provisioning_run_changes_nothing(jenkins_slave0: JenkinsSlave0) -> None:
    first = [step for step in jenkins_slave0.steps if step.changed]
    assert {step.script for step in first} >= {"vm.sh", "host2-proxy.sh", "host2-hops.sh", "laptop.sh"}
    again = jenkins_slave0.apply()
    assert [(step.host, step.script, step.changed) for step in again if step.changed] == []
    assert all("ok: " in step.output for step in again), "each step says what it found in place"


# -- attacks, both variants ------------------------------------------------


def injections(marker: str) -> dict[str, str]:
    """A client's command per form of injection, each meant to create ``marker``."""
    return {
        "semicolon": f"true; touch {marker}",
        "substitution": f"$(touch {marker})",
        "backticks": f"`touch {marker}`",
        "newline": f"true\ntouch {marker}",
        # OpenSSH reads options after the destination unless `--` ends them.
        "proxycommand": f"-oProxyCommand=sh -c 'touch {marker}'",
        # The same, without a space for the bastion's word splitting to cut: ProxyCommand's own shell expands it.
        "proxycommand-ifs": f"-oProxyCommand=touch${{IFS}}{marker}",
    }


def where_it_ran(world: JenkinsSlave0, account: str, form: str) -> str:
    """Where laptop's client command of injection ``form`` through ``account``@host2 created its marker:
    host2, next (the hop's destination: the VM for docker, the agent container for jenkins_slave0) or nowhere."""
    marker = f"/tmp/x-{form}-{uuid.uuid4().hex[:8]}"
    world.laptop_ssh(f"{account}@host2", injections(marker)[form], check=False)
    found = []
    if world.host2.run(f"test -e {marker}", check=False).ok:
        found.append("host2")
    inside = f"docker exec jenkins-slave0 test -e {marker}" if account == "jenkins_slave0" else f"test -e {marker}"
    if world.vm.run(inside, check=False).ok:
        found.append("next")
    return "+".join(found) or "nowhere"


#: Where each form runs, per variant: as written, the bastion splits and globs the words and ssh reads
#: the options among them (a ProxyCommand runs on host2); hardened, the command is one word after `--`,
#: run by the next hop's shell only (which is what the hop is for), never on host2.
EXPECTED_INJECTIONS = {
    "as_written": {
        "semicolon": "next",
        "substitution": "next",
        "backticks": "next",
        "newline": "nowhere",  # the bastion's word splitting turns the newline into a space: `true touch ...`
        "proxycommand": "nowhere",  # split into -oProxyCommand=sh -c ''touch' ...: ssh refuses the cipher 'touch
        "proxycommand-ifs": "host2",
    },
    "hardened": {
        "semicolon": "next",
        "substitution": "next",
        "backticks": "next",
        "newline": "next",
        "proxycommand": "nowhere",  # the next hop's shell has no command -oProxyCommand=sh
        "proxycommand-ifs": "nowhere",
    },
}


def injection_matrix(world: JenkinsSlave0) -> dict[str, dict[str, str]]:
    forms = list(injections("m"))
    return {account: {form: where_it_ran(world, account, form) for form in forms} for account in HOP_ACCOUNTS}


HOP_ACCOUNTS = ("docker", "jenkins_slave0")


def interactive_login(world: JenkinsSlave0) -> str:
    """What laptop's myuser sees typing ``hostname`` and ``tty`` into ``ssh -t docker@host2`` (the write-up's
    interactive hop to a shell on the VM), under a terminal."""
    return world.laptop.run(
        "printf 'hostname\\ntty\\nexit\\n' | ssh -tt -o BatchMode=yes docker@host2", user="myuser", timeout=60
    ).stdout


def forged_log_line(world: JenkinsSlave0) -> tuple[list[str], list[str]]:
    """host2's log lines after laptop sent a command with a newline followed by a hop line for caller
    ``admin``: those that begin like that line (a forged second line, where the hop logs the command as
    it came), and those that hold it within the hop's own line (the newline written as ``\\n``)."""
    forged = f"docker_ssh.sh: caller=admin host=10.9.9.9 command=reboot-{uuid.uuid4().hex[:6]}"
    world.laptop_ssh("docker@host2", f"true\n{forged}", check=False)
    lines = world.host2.run("journalctl --no-pager -o cat", sudo=True).stdout.splitlines()
    inline = f"command=true\\n{forged}"
    return (
        [line for line in lines if line.startswith(forged)],
        [line for line in lines if line.startswith("docker_ssh.sh: caller=myuser ") and line.endswith(inline)],
    )


def test_hardened_hops_run_no_injection_on_host2_and_log_one_line(jenkins_slave0: JenkinsSlave0) -> None:
    world = jenkins_slave0
    assert injection_matrix(world) == dict.fromkeys(HOP_ACCOUNTS, EXPECTED_INJECTIONS["hardened"])
    forged, inline = forged_log_line(world)
    assert forged == [] and len(inline) == 1, "a newline in the command is logged as \\n, on the hop's one line"
    login = interactive_login(world)
    assert "\nvm\r\n" in login and "/dev/pts/" in login, "restrict,pty: the interactive hop gets a terminal"


@pytest.mark.jenkins_slave0(variant="as_written")
def test_as_written_hops_run_injections_where_the_write_up_lets_them(jenkins_slave0: JenkinsSlave0) -> None:
    world = jenkins_slave0
    assert injection_matrix(world) == dict.fromkeys(HOP_ACCOUNTS, EXPECTED_INJECTIONS["as_written"])
    forged, _ = forged_log_line(world)
    assert len(forged) == 1, "a newline in the command forges a second log line"
    login = interactive_login(world)
    assert "\nvm\r\n" in login and "/dev/pts/" in login, "ssh -t: the interactive hop gets a terminal"


# -- as written -------------------------------------------------------------


def nginx_refuses_ssl_on(version: str) -> bool:
    """nginx removed ``ssl on;`` in 1.25.1: from then on a config with it is fatal."""
    found = re.match(r"(\d+)\.(\d+)\.(\d+)", version)  # "1.10.3 (Ubuntu)" on Ubuntu 16.04
    assert found, version
    return tuple(int(part) for part in found.groups()) >= (1, 25, 1)


def test_as_written_on_this_os(
    vps_fleet: Fleet,
    spec: OsSpec,
    cloud_closer: list[DockerCloud],
    record_property: Callable[[str, object], None],
) -> None:
    """Each OS difference is asserted, and recorded for `make matrix`'s table as an expected failure."""
    with images_or_skip(spec):
        world = provision(vps_fleet, spec, "as_written")
    laptop_ip = world.laptop.ip_on(world.public)
    for name in ("laptop", "outsider"):
        vm_unreachable_from(world, name)

    # The hop scripts: in the accounts' own homes, the -z guard, exit -1, ssh -t, words split on host2.
    assert world.laptop_ssh("docker@host2", "whoami; hostname").stdout == "myuser\nvm\n"
    # As root: homes are 0750 from Ubuntu 21.04 on (adduser's DIR_MODE), so vps may not look in.
    assert world.host2.run("stat -c '%U %a' /home/docker/docker_ssh.sh", sudo=True).stdout == "docker 755\n"
    assert world.host2.run("/home/docker/docker_ssh.sh", user="docker", check=False).exit_status == 255, "exit -1"
    anyone = world.host2.run("/home/docker/docker_ssh.sh mallory", user="docker", check=False)
    assert "Access denied" not in anyone.stdout and "Permission denied" in anyone.stderr, "-z lets any caller on"
    assert journal(world, "docker_ssh.sh: caller=mallory "), "and logs it as a caller"
    globbed = world.laptop_ssh("docker@host2", "echo /home/docker/docker_ss*").stdout
    assert globbed == "/home/docker/docker_ssh.sh\n", "the client's words were globbed on host2"
    forwarded = world.laptop_ssh("docker@host2", "true", "-o ExitOnForwardFailure=yes -R 15001:127.0.0.1:22")
    assert forwarded.ok, "command= alone leaves port forwarding open"
    assert len(forwarded_agent_sockets(world)) == 1, "command= alone lets the client's agent reach the bastion"
    x11 = x11_request(world)
    assert "X11 forwarding request failed" in x11 and "X11 forwarding disabled" not in x11, (
        "command= alone does not refuse X11 forwarding (sshd names no key restriction): the server's own "
        "sshd_config (X11Forwarding no) is what refuses it"
    )
    assert world.laptop_ssh("jenkins_slave0@host2", "whoami").stdout == "jenkins\n"
    line = f"jenkins_slave0_ssh.sh: caller=jenkins host={laptop_ip} command=whoami"
    assert journal(world, line), "the log names the login, not the caller"

    # dockerd on the VM's address, as written (not 0.0.0.0).
    vm, vm_ip = world.vm, world.vm.ip_on(world.private)
    listening = vm.run("ss -ltn | awk '$4 ~ /:2375$/ {print $4}'").stdout.split()
    assert listening == [f"{vm_ip}:2375"], listening
    # The agent's keys baked into its image by its Dockerfile.
    baked = vm.run("docker run --rm --entrypoint cat jenkins-slave0:keys /home/jenkins/.ssh/authorized_keys").stdout
    assert world.jenkins_key.public.split()[1] in baked, "the master's key is in the image"
    assert vm.run("docker inspect -f '{{.Config.Image}}' jenkins-slave0").stdout == "jenkins-slave0:keys\n"

    version = world.host2.run("nginx -v 2>&1 | sed 's|.*/||'", sudo=True).stdout.strip()
    if nginx_refuses_ssl_on(version):
        assert 'unknown directive "ssl"' in world.proxy_refused, world.proxy_refused
        record_property("expected", f"nginx {version} refuses `ssl on;` (removed in 1.25.1)")
    else:
        assert world.proxy_refused == "", f"nginx {version} still takes `ssl on;`: {world.proxy_refused}"
        as_written_proxy(world, spec, laptop_ip, record_property)

    image = "localhost:5000/team/base:1"
    vm.run(f"docker tag {spec.registry_ref} {image} && docker push {image} >/dev/null", timeout=120)
    vm.run(f"docker rm -f registry >/dev/null && docker rmi {image} >/dev/null")
    world.apply()
    lost = vm.run(f"docker pull {image}", check=False, timeout=120)
    assert not lost.ok and re.search(r"not found|manifest unknown", lost.stderr), (
        "the data was in the old container's anonymous volume: -v /var/docker-registry:/var/lib/docker-registry "
        "mounts a path registry:2 never writes"
    )

    # Plugin 0.10.2: plain HTTP to :2375 (it had no HTTPS), from the Jenkins VM's side (host2's).
    cloud = DockerCloud(f"http://{VM_NAME}:2375", world.host2.forward, api_version="1.19", container_cap=5)
    cloud_closer.append(cloud)
    template = Template("jenkins-slave0", world.jenkins_key, instance_cap=5)
    major = engine_major(world)
    if major >= 25:  # dockerd 25 refuses API versions below 1.24
        with pytest.raises(DockerApiError, match=r"1\.19 is too old"):
            cloud.provision(template)
        record_property("expected", f"dockerd {major} refuses the plugin's API 1.19 (1.24 at least since 25)")
    else:
        agent = cloud.provision(template)
        assert cloud.run_job(agent, template, "java -version")[0] == 0
        cloud.terminate(agent)

    reachable = world.host2.run("curl -fsS -o /dev/null http://vm-with-docker:5000/v2/", check=False)
    assert reachable.ok, "-p 5000:5000: the registry answers every host of the VM's network"
    host2 = world.host2.run("hostname").stdout
    assert replace_own_keys(world) == host2, "the account rewrote its own keys: a shell on the bastion"

    # No restart policy on the agent: after a reboot it is gone; the registry (--restart=always) is back.
    vm.restart()
    running = running_after_boot(vm, "registry")
    assert "registry" in running and "jenkins-slave0" not in running, running


def as_written_proxy(
    world: JenkinsSlave0, spec: OsSpec, laptop_ip: str, record_property: Callable[[str, object], None]
) -> None:
    """What the as-written nginx site does where nginx still takes it."""
    handshake = world.laptop.run(f"{CURL} https://docker.my.domain/version", user="myuser", check=False)
    access = world.host2.run("cat /var/log/nginx/docker.my.domain.access.log", sudo=True).stdout
    if tls1_handshake_works(world.laptop):
        assert handshake.ok and json.loads(handshake.stdout)["ApiVersion"], handshake.stderr
        assert re.search(rf'^{re.escape(laptop_ip)} .*"GET /version HTTP/1\.1" 200 ', access, re.M), access
        # What `docker exec -it` meets past the TLS: nginx talks HTTP/1.0 upstream without the
        # Upgrade/Connection headers, so the engine answers 200, not 101 ("unable to upgrade to tcp").
        assert exec_start_status(world) == "200"
    else:
        assert not handshake.ok and re.search(r"SSL|TLS|alert|handshake", handshake.stderr), handshake.stderr
        assert laptop_ip not in access, "no request got past the handshake"
        record_property("expected", f"no TLS 1.0 handshake on {spec}: its OpenSSL forbids TLS below 1.2")

    # The docker CLI (Go) offers no TLS the as-written proxy accepts, on any of these OSes.
    cli = world.laptop.run(docker_cli("exec -it jenkins-slave0 true"), user="myuser", check=False, timeout=60)
    assert cli.exit_status != 0
    assert re.search(r"tls|x509|certificate|handshake|protocol version", cli.stdout, re.I), cli.stdout
