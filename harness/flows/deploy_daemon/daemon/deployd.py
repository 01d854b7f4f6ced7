#!/usr/bin/python3
"""deployd: a deploy daemon, as Heroku-like tools run one on each server.

It runs in a container with the engine's socket mounted and serves HTTPS on
:8081 with the certificate its entry point made. To start an app it runs a
compose container (its own image, which has docker-compose) with the socket
and the app's folder mounted, so the app's containers are the engine's own:
siblings of deployd's, not nested in it.

  GET  /                 200 {"daemon": "deployd", "apps": [...]}; no token needed
  PUT  /apps/NAME        the app's folder as a tar (docker-compose.yml at its top)
  POST /apps/NAME/up     `docker-compose -p NAME up --build` in container DEPLOYD_NAME-compose-NAME (202)
  GET  /apps/NAME        that container's state and last lines
  POST /apps/NAME/down   `docker-compose -p NAME down --rmi local --volumes`, then removes it

Every request but GET / needs "Authorization: Bearer TOKEN" (DEPLOYD_DATA/token).
Settings (environment):
  DEPLOYD_NAME           its container's name, the prefix of its compose containers'
  DEPLOYD_IMAGE          its image, which the compose containers run too
  DEPLOYD_DATA           its data (tls/, token, apps/), mounted at the same path in
                         the compose containers, so a project's relative paths mean the same
  DEPLOYD_DATA_SOURCE    what the engine mounts as DEPLOYD_DATA: a path on the engine's
                         host, or a volume's name
  DEPLOYD_SOCKET_SOURCE  the engine's socket, as a path on the engine's host
Python 3.5 (Ubuntu 16.04's) and later, standard library only.
"""

import hmac
import http.client
import http.server
import io
import json
import os
import re
import shutil
import socket
import socketserver
import ssl
import sys
import tarfile
import urllib.parse

NAME = os.environ.get("DEPLOYD_NAME", "deployd")
IMAGE = os.environ["DEPLOYD_IMAGE"]
DATA = os.environ.get("DEPLOYD_DATA", "/srv/deployd")
DATA_SOURCE = os.environ.get("DEPLOYD_DATA_SOURCE", DATA)
SOCKET_SOURCE = os.environ.get("DEPLOYD_SOCKET_SOURCE", "/var/run/docker.sock")
SOCKET = "/var/run/docker.sock"
APPS = os.path.join(DATA, "apps")
PORT = 8081
#: App names: what every docker-compose release keeps as its project name.
APP = re.compile(r"^/apps/([a-z0-9]{1,30})(/up|/down)?$")


class EngineError(Exception):
    def __init__(self, status, message):
        Exception.__init__(self, "engine answered {}: {}".format(status, message))
        self.status = status


class EngineConnection(http.client.HTTPConnection):
    """HTTP to the Docker engine over its Unix socket."""

    def __init__(self):
        http.client.HTTPConnection.__init__(self, "localhost", timeout=900)

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(SOCKET)


def engine(method, path, body=None):
    """One Docker API call (the engine's own API version); its JSON, or its text."""
    connection = EngineConnection()
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, None if body is None else json.dumps(body), headers)
        response = connection.getresponse()
        text = response.read().decode("utf-8", "replace")
    finally:
        connection.close()
    if response.status >= 400:
        try:
            text = json.loads(text).get("message", text)
        except ValueError:
            pass
        raise EngineError(response.status, text.strip())
    if response.getheader("Content-Type", "").startswith("application/json") and text:
        return json.loads(text)
    return text


def compose_container(app, suffix=""):
    return "{}-compose-{}{}".format(NAME, app, suffix)


def remove(container):
    try:
        engine("DELETE", "/containers/{}?force=1".format(container))
    except EngineError as e:
        if e.status != 404:
            raise


def run_compose(app, container, args):
    """Start a compose container for ``app`` running ``docker-compose -p APP ARGS``; its id."""
    remove(container)
    created = engine(
        "POST",
        "/containers/create?name=" + container,
        {
            "Image": IMAGE,
            "Cmd": ["docker-compose", "-p", app] + args,
            "WorkingDir": os.path.join(APPS, app),
            # The project's Dockerfiles build FROM deployd's image, the one image the server
            # surely has. API "auto": a docker-compose older than the engine asks for an API
            # version the engine may refuse (below 1.24 since Docker 25). CLI build off:
            # docker-compose 1.28 and later build with the docker CLI, which this image has
            # not; the engine's build API does the same.
            "Env": ["DEPLOYD_IMAGE=" + IMAGE, "COMPOSE_API_VERSION=auto", "COMPOSE_DOCKER_CLI_BUILD=0"],
            "Tty": True,
            "Labels": {"deployd.app": app},
            "HostConfig": {"Binds": [SOCKET_SOURCE + ":" + SOCKET, DATA_SOURCE + ":" + DATA]},
        },
    )
    engine("POST", "/containers/{}/start".format(created["Id"]))
    return created["Id"]


def logs(container, tail=40):
    return engine("GET", "/containers/{}/logs?stdout=1&stderr=1&tail={}".format(container, tail))


def unpack(app, body):
    """The app's folder from a tar: only files and folders, all inside it."""
    folder = os.path.join(APPS, app)
    archive = tarfile.open(fileobj=io.BytesIO(body))
    members = archive.getmembers()
    for member in members:
        parts = member.name.split("/")
        if member.name.startswith("/") or ".." in parts or not (member.isfile() or member.isdir()):
            raise ValueError("refused {!r}: only files and folders inside the app".format(member.name))
    if not any(member.name.lstrip("./") == "docker-compose.yml" for member in members):
        raise ValueError("no docker-compose.yml at the top of the app's folder")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    archive.extractall(folder, members)


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "deployd/1"

    def reply(self, status, document):
        body = (json.dumps(document, sort_keys=True) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def authorized(self):
        with open(os.path.join(DATA, "token")) as f:
            token = f.read().strip()
        given = self.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), ("Bearer " + token).encode())

    def route(self, method):
        path = urllib.parse.urlsplit(self.path).path
        if method == "GET" and path == "/":
            apps = sorted(os.listdir(APPS)) if os.path.isdir(APPS) else []
            return self.reply(200, {"daemon": "deployd", "apps": apps})
        if not self.authorized():
            return self.reply(401, {"error": "no valid token (Authorization: Bearer TOKEN)"})
        match = APP.match(path)
        if not match:
            return self.reply(404, {"error": "no such resource: " + path})
        app, action = match.group(1), match.group(2)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            if method == "PUT" and not action:
                unpack(app, body)
                return self.reply(201, {"app": app})
            if not os.path.isdir(os.path.join(APPS, app)):
                return self.reply(404, {"error": "no app " + app})
            if method == "POST" and action == "/up":
                container = run_compose(app, compose_container(app), ["up", "--build"])
                return self.reply(202, {"app": app, "compose": compose_container(app), "id": container})
            if method == "POST" and action == "/down":
                container = run_compose(app, compose_container(app, "-down"), ["down", "--rmi", "local", "--volumes"])
                status = engine("POST", "/containers/{}/wait".format(container))
                output = logs(container, tail=200)
                remove(container)
                remove(compose_container(app))
                code = status.get("StatusCode", -1)
                return self.reply(200 if code == 0 else 500, {"app": app, "exit": code, "output": output})
            if method == "GET" and not action:
                state = engine("GET", "/containers/{}/json".format(compose_container(app)))["State"]
                return self.reply(
                    200,
                    {
                        "app": app,
                        "status": state["Status"],
                        "exit": state["ExitCode"],
                        "output": logs(compose_container(app)),
                    },
                )
        except EngineError as e:
            return self.reply(502 if e.status >= 500 else e.status, {"error": str(e)})
        except (ValueError, tarfile.TarError) as e:
            return self.reply(400, {"error": str(e)})
        except OSError as e:  # the engine's socket, its data: the client hears why, not a dropped connection
            return self.reply(502, {"error": "{}: {}".format(type(e).__name__, e)})
        return self.reply(405, {"error": "{} is not for {}".format(method, path)})

    def do_GET(self):
        self.route("GET")

    def do_PUT(self):
        self.route("PUT")

    def do_POST(self):
        self.route("POST")


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """Each connection on its own thread, its TLS handshake too (a silent client holds up no other)."""

    daemon_threads = True

    def __init__(self, context):
        http.server.HTTPServer.__init__(self, ("", PORT), Handler)
        self.context = context

    def finish_request(self, request, client_address):
        request.settimeout(30)
        http.server.HTTPServer.finish_request(self, self.context.wrap_socket(request, server_side=True), client_address)


def main():
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.options |= ssl.OP_NO_TLSv1 | ssl.OP_NO_TLSv1_1
    context.load_cert_chain(os.path.join(DATA, "tls", "cert.pem"), os.path.join(DATA, "tls", "key.pem"))
    server = Server(context)
    print("deployd {} listening on :{} (HTTPS), engine {}".format(NAME, PORT, SOCKET_SOURCE), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
