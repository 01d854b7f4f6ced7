# shellcheck shell=sh
# The steps of flows that run containers on a server's Docker engine; sourced
# after lib/common.sh.

# engine_answers: wait (up to 60 s) until the engine answers `docker info`.
engine_answers() {
    wait_for 60 timeout 10 docker info ||
        fail "the Docker engine does not answer after $WAITED s: $(systemctl status docker 2>&1 | tail -n 5)"
}

# restart_engine: restart dockerd (after its unit or daemon.json changed) and
# wait until it answers.
restart_engine() {
    systemctl daemon-reload
    systemctl restart docker
    engine_answers
    changed "docker restarted"
}

# run_container NAME ARGS...: a container NAME of `docker run -d --name NAME ARGS`;
# one that ran with other ARGS is replaced. CONTAINER_NEW says whether it made one.
run_container() {
    name=$1
    shift
    wanted=$(printf '%s ' "$@" | sha256sum | cut -c1-16)
    have=$(docker container inspect -f '{{index .Config.Labels "vps-flows.args"}}' "$name" 2>/dev/null || true)
    CONTAINER_NEW=no
    if [ "$have" = "$wanted" ]; then
        if [ "$(docker container inspect -f '{{.State.Running}}' "$name")" = true ]; then
            ok "container $name"
        else
            docker start "$name" >/dev/null
            changed "container $name started"
        fi
        return
    fi
    [ -z "$have" ] || docker rm -f "$name" >/dev/null
    docker run -d --name "$name" --label "vps-flows.args=$wanted" "$@" >/dev/null
    # shellcheck disable=SC2034 # the caller reads it
    CONTAINER_NEW=yes
    changed "container $name"
}

# answers WHAT URL CONTAINER [CODE...]: wait (up to 30 s) until URL answers
# with one of the HTTP CODEs (default 200); failing, say so with CONTAINER's
# last log lines. Certificates are not checked: this is a liveness probe.
answers() {
    what=$1 url=$2 container=$3
    shift 3
    [ $# -gt 0 ] || set -- 200
    if ! wait_for 30 answer_is "$url" "$@"; then
        fail "$what does not answer on $url after $WAITED s: $(docker logs --tail 5 "$container" 2>&1)"
    fi
    ok "$what answers on $url"
}

# answer_is URL CODE...: whether URL answers with one of the HTTP CODEs.
answer_is() {
    url=$1
    shift
    code=$(curl -ksS --max-time 3 -o /dev/null -w '%{http_code}' "$url" 2>/dev/null) || code=000
    for wanted in "$@"; do
        [ "$code" != "$wanted" ] || return 0
    done
    return 1
}

# registry_answers URL: wait until the registry container answers on URL's /v2/
# (200, or 401 when it wants a login).
registry_answers() {
    answers registry "$1/v2/" registry 200 401
}
