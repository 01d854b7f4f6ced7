"""What the role made, seen over the same SSH Ansible used (testinfra's ansible backend)."""

#: The role converges web; gate is its bastion only.
testinfra_hosts = ["web"]


def test_the_role_made_its_server(host):
    assert host.package("cron").is_installed
    assert host.user("deploy").shell == "/usr/sbin/nologin"
    job = host.file("/etc/cron.d/heartbeat")
    assert job.mode == 0o644 and job.contains("deploy date")
    cron = host.service("cron")
    assert cron.is_running and cron.is_enabled


def test_it_was_reached_through_the_bastion(host):
    """sshd saw the connection come from the bastion's address on the private network."""
    client = host.run("echo $SSH_CONNECTION").stdout.split()[0]
    gate = host.run("getent hosts gate").stdout.split()[0]
    assert client == gate
