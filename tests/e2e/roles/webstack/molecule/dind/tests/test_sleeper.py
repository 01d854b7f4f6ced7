"""The role's container runs in the instance's own Docker engine."""


def test_the_container_runs(host):
    state = host.run("sudo docker inspect -f '{{.State.Running}} {{.HostConfig.RestartPolicy.Name}}' sleeper")
    assert state.stdout.split() == ["true", "always"], state.stderr
