"""What the role made, seen over the same SSH Ansible used (testinfra's ansible backend)."""


def test_the_role_made_its_server(host):
    assert host.package("cron").is_installed
    assert host.user("deploy").shell == "/usr/sbin/nologin"
    job = host.file("/etc/cron.d/heartbeat")
    assert job.mode == 0o644 and job.contains("deploy date")
    cron = host.service("cron")
    assert cron.is_running and cron.is_enabled
