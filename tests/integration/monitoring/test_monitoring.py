"""Role koprogo.storage.monitoring against a real MinIO, a real Prometheus and node exporter.

The role runs on localhost and writes every file into a temporary directory. A Prometheus
(Debian package, 2.42: no scrape_config_files, so the test embeds the role's scrape jobs into a
generated prometheus.yml) scrapes the real MinIO with the token the role minted, and node exporter
serves the filesystem and a sample backup textfile.
"""

from __future__ import annotations

import calendar
import grp
import json
import os
import pwd
import re
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import jinja2
import pytest
import yaml
from helpers.ansible_run import ROOT, run_playbook
from helpers.minio_server import MC_BIN

sys.path.insert(0, str(Path(__file__).parent))

from prometheus_proc import PROMTOOL, NodeExporter, Prometheus  # noqa: E402

ROLE = ROOT / "roles" / "monitoring"
DASHBOARD = ROLE / "files" / "koprogo-storage-dashboard.json"
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
PROM_USER = "koprogo-prom-test"
SECRET_1 = "Prom-secret-one-0123456789abcd"
SECRET_2 = "Prom-secret-two-9876543210wxyz"
# The test Prometheus' own job that scrapes MinIO without a token.
NO_TOKEN_JOB = "minio-cluster-without-token"
# A mount point node exporter really reports on this machine stands in for the LUKS volume.
LIVE_MOUNTPOINT = "/"


def minutes(duration: str) -> int:
    units = {"s": 1 / 60, "m": 1, "h": 60, "d": 1440}
    total = sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smhd])", duration))
    assert total == int(total), duration
    return int(total)


def humanize_duration(seconds: int) -> str:
    """Prometheus' humanizeDuration for whole seconds >= 1 day."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    mins, secs = divmod(rest, 60)
    return f"{days}d {hours}h {mins}m {secs}s"


def owner_group() -> tuple[str, str]:
    return pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name


class Env:
    """Paths, role variables and the processes of one test module."""

    def __init__(self, base: Path, minio):
        self.base = base
        self.minio = minio
        self.etc = base / "etc-prometheus"
        self.textfile_dir = base / "textfile"
        self.grafana_dir = base / "grafana"
        for path in (self.textfile_dir, self.grafana_dir):
            path.mkdir(parents=True, exist_ok=True)
        self.node_exporter = NodeExporter(base, self.textfile_dir)
        self.prometheus = None
        self.playbook = base / "monitoring.yml"
        self.playbook.write_text(yaml.safe_dump([{
            "name": "Apply koprogo.storage.monitoring",
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "vars": {"ansible_python_interpreter": sys.executable},
            "roles": [{"role": "koprogo.storage.monitoring"}],
        }], sort_keys=False))

    @property
    def token_file(self) -> Path:
        return self.etc / "koprogo-minio.token"

    @property
    def scrape_file(self) -> Path:
        return self.etc / "scrape_configs" / "koprogo-storage.yml"

    @property
    def rules_file(self) -> Path:
        return self.etc / "rules" / "koprogo-storage.rules.yml"

    def role_vars(self, secret: str, **extra) -> dict:
        owner, group = owner_group()
        values = {
            "monitoring_minio_run_on": "controller",
            "monitoring_minio_endpoint": self.minio.endpoint,
            "monitoring_minio_admin_access_key": self.minio.access_key,
            "monitoring_minio_admin_secret_key": self.minio.secret_key,
            "monitoring_minio_prometheus_user": PROM_USER,
            "monitoring_minio_prometheus_secret_key": secret,
            "monitoring_install_dependencies": False,
            "monitoring_prometheus_config_dir": str(self.etc),
            "monitoring_token_owner": owner,
            "monitoring_token_group": group,
            "monitoring_files_owner": owner,
            "monitoring_files_group": group,
            "monitoring_minio_targets": [f"127.0.0.1:{self.minio.port}"],
            "monitoring_node_exporter_targets": [self.node_exporter.address],
            "monitoring_textfile_dir": str(self.textfile_dir),
            "monitoring_grafana_dashboard_dir": str(self.grafana_dir),
            "monitoring_validate_with_promtool": True,
            "monitoring_promtool": PROMTOOL,
            "monitoring_scrape_interval": "2s",
            "monitoring_scrape_timeout": "2s",
        }
        values.update(extra)
        return values

    def apply(self, secret: str = SECRET_1, check: bool = False, verbosity: int = 0, json_output: bool = True,
              **extra):
        return run_playbook(self.playbook, check=check, diff=check, verbosity=verbosity, json_output=json_output,
                            extra_vars=self.role_vars(secret, **extra))

    def prometheus_config(self) -> Path:
        """prometheus.yml for 2.42: the role's scrape jobs embedded, plus one job without the token."""
        jobs = yaml.safe_load(self.scrape_file.read_text())["scrape_configs"]
        no_token = {"job_name": NO_TOKEN_JOB, "metrics_path": "/minio/v2/metrics/cluster",
                    "scrape_interval": "2s", "scrape_timeout": "2s",
                    "static_configs": [{"targets": [f"127.0.0.1:{self.minio.port}"]}]}
        config = {"global": {"scrape_interval": "2s", "evaluation_interval": "2s"},
                  "rule_files": [str(self.rules_file)],
                  "scrape_configs": [*jobs, no_token]}
        path = self.base / "prometheus.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def write_backup_metrics(self, last_success: float) -> None:
        """A koprogo_backup.prom as the backup role writes it (atomically: temp file, then rename)."""
        text = "".join([
            "# HELP koprogo_backup_last_success_timestamp_seconds Unix time of the last successful backup.\n",
            "# TYPE koprogo_backup_last_success_timestamp_seconds gauge\n",
            f"koprogo_backup_last_success_timestamp_seconds {last_success:.0f}\n",
            "# HELP koprogo_backup_last_run_timestamp_seconds Unix time of the last backup run.\n",
            "# TYPE koprogo_backup_last_run_timestamp_seconds gauge\n",
            f"koprogo_backup_last_run_timestamp_seconds {last_success:.0f}\n",
            "# HELP koprogo_backup_last_exit_code Exit code of the last backup run.\n",
            "# TYPE koprogo_backup_last_exit_code gauge\n",
            "koprogo_backup_last_exit_code 0\n",
            "# HELP koprogo_backup_duration_seconds Duration of the last backup run.\n",
            "# TYPE koprogo_backup_duration_seconds gauge\n",
            "koprogo_backup_duration_seconds 42\n",
            "# HELP koprogo_backup_objects Objects in the last backup.\n",
            "# TYPE koprogo_backup_objects gauge\n",
            "koprogo_backup_objects 3\n",
            "# HELP koprogo_backup_bytes Bytes in the last backup.\n",
            "# TYPE koprogo_backup_bytes gauge\n",
            "koprogo_backup_bytes 12345\n",
        ])
        tmp = self.textfile_dir / ".koprogo_backup.prom.tmp"
        tmp.write_text(text)
        tmp.rename(self.textfile_dir / "koprogo_backup.prom")


def task(result, name: str) -> dict:
    """The result of the role task called name (ansible prefixes it with the role name)."""
    matches = [r for full, r in result.tasks.items() if full.split(" : ", 1)[-1] == name]
    assert len(matches) == 1, (name, list(result.tasks))
    return matches[0]


def metrics_status(endpoint: str, path: str, token: str | None) -> int:
    request = urllib.request.Request(endpoint + path)  # noqa: S310 - loopback only
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 - loopback only
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def dashboard_queries() -> list[tuple[str, str]]:
    doc = json.loads(DASHBOARD.read_text())
    found = []

    def walk(panels):
        for panel in panels:
            for target in panel.get("targets", []):
                found.append((f"{panel['title']} / {target['refId']}", target["expr"]))
            walk(panel.get("panels", []))

    walk(doc["panels"])
    return found


def dashboard_variables() -> list[dict]:
    return json.loads(DASHBOARD.read_text())["templating"]["list"]


def substitute(expr: str) -> str:
    values = {
        "minio_cluster_job": DEFAULTS["monitoring_job_minio_cluster"],
        "minio_node_job": DEFAULTS["monitoring_job_minio_node"],
        "node_job": DEFAULTS["monitoring_job_node_exporter"],
        "mountpoint": LIVE_MOUNTPOINT,
        "__rate_interval": "1m",
    }
    for name, value in values.items():
        expr = expr.replace("${" + name + "}", value).replace("$" + name, value)
    assert "$" not in expr, f"unsubstituted variable in {expr}"
    return expr


@pytest.fixture(scope="module")
def env(tmp_path_factory, minio):
    environment = Env(tmp_path_factory.mktemp("monitoring"), minio)
    environment.node_exporter.start()
    environment.write_backup_metrics(time.time() - 3600)
    yield environment
    if environment.prometheus:
        environment.prometheus.stop()
    environment.node_exporter.stop()


@pytest.fixture(scope="module")
def applied(env):
    """Check mode on a fresh host, then apply: the state the other tests start from."""
    check = env.apply(check=True)
    assert check.rc == 0, check.stdout + check.stderr
    assert not env.token_file.exists(), "check mode must not write the token"
    result = env.apply()
    assert result.rc == 0, result.stdout + result.stderr
    return {"check": check, "first": result}


@pytest.fixture(scope="module")
def prometheus(env, applied):
    env.prometheus = Prometheus(env.base, env.prometheus_config()).start()
    # Some S3 traffic, including a client error, so request and error panels have data.
    s3 = env.minio.boto3()
    bucket = "monitoring-dashboard"
    s3.create_bucket(Bucket=bucket)
    for i in range(3):
        s3.put_object(Bucket=bucket, Key=f"doc-{i}.pdf", Body=b"%PDF-1.4 koprogo " * (i + 1))
        s3.get_object(Bucket=bucket, Key=f"doc-{i}.pdf")["Body"].read()
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=bucket, Key="missing.pdf")
    return env.prometheus


# --- role application ---------------------------------------------------------


def test_check_mode_on_fresh_host_predicts_changes(applied):
    check = applied["check"]
    assert check.changed > 0
    assert task(check, "Keep the MinIO bearer token valid for the current secret")["changed"] is True


def test_second_run_and_check_mode_are_unchanged(env, applied):
    again = env.apply()
    assert again.rc == 0, again.stdout + again.stderr
    assert again.changed == 0, {name: r for name, r in again.tasks.items() if r.get("changed")}
    check = env.apply(check=True)
    assert check.rc == 0
    assert check.changed == 0, {name: r for name, r in check.tasks.items() if r.get("changed")}


def test_files_and_modes(env, applied):
    token_stat = env.token_file.stat()
    assert stat.S_IMODE(token_stat.st_mode) == 0o600
    for path in (env.scrape_file, env.rules_file, env.grafana_dir / DASHBOARD.name):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert (env.grafana_dir / DASHBOARD.name).read_bytes() == DASHBOARD.read_bytes()
    jobs = {job["job_name"]: job for job in yaml.safe_load(env.scrape_file.read_text())["scrape_configs"]}
    cluster = jobs[DEFAULTS["monitoring_job_minio_cluster"]]
    node = jobs[DEFAULTS["monitoring_job_minio_node"]]
    assert cluster["metrics_path"] == "/minio/v2/metrics/cluster"
    assert node["metrics_path"] == "/minio/v2/metrics/node"
    for job in (cluster, node):
        assert job["authorization"] == {"type": "Bearer", "credentials_file": str(env.token_file)}
    # The token is referenced, never embedded.
    assert env.token_file.read_text().strip() not in env.scrape_file.read_text()


def test_metrics_user_may_only_read_metrics(env, applied):
    info = json.loads(env.minio.mc("admin", "user", "info", "t", PROM_USER, "--json").stdout)
    assert info["userStatus"] == "enabled"
    assert info["policyName"] == DEFAULTS["monitoring_minio_prometheus_policy"]
    policy = json.loads(env.minio.mc("admin", "policy", "info", "t", DEFAULTS["monitoring_minio_prometheus_policy"],
                                     "--json").stdout)["policyInfo"]["Policy"]
    assert [s["Action"] for s in policy["Statement"]] == [["admin:Prometheus"]]
    assert all(s["Effect"] == "Allow" and "Resource" not in s for s in policy["Statement"])
    # The user can read no bucket and call no other admin API.
    s3 = env.minio.boto3(access_key=PROM_USER, secret_key=SECRET_1)
    with pytest.raises(Exception, match="AccessDenied"):
        s3.list_buckets()
    mc_env = env.minio.mc_env()
    mc_env["MC_HOST_prom"] = f"http://{PROM_USER}:{SECRET_1}@127.0.0.1:{env.minio.port}"
    denied = subprocess.run([str(MC_BIN), "--no-color", "admin", "user", "list", "prom"], env=mc_env,
                            capture_output=True, text=True, check=False, timeout=60)
    assert denied.returncode != 0
    assert "Access Denied" in denied.stdout + denied.stderr


def test_promtool_check_config_and_rules(env, applied):
    for args in (["check", "config", str(env.scrape_file)], ["check", "rules", str(env.rules_file)],
                 ["check", "config", str(env.prometheus_config())]):
        proc = subprocess.run([PROMTOOL, *args], capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "SUCCESS" in proc.stdout + proc.stderr


def test_promtool_rule_unit_tests_cover_every_alert(env, applied):
    capacity_pct = DEFAULTS["monitoring_alert_capacity_free_percent"]
    low_free = max(1, int(capacity_pct * 10) // 2)
    backup_hours = DEFAULTS["monitoring_alert_backup_max_age_hours"]
    template = jinja2.Template((Path(__file__).parent / "rules_test.yml.j2").read_text(),
                               undefined=jinja2.StrictUndefined)
    rendered = template.render(
        rules_file=str(env.rules_file),
        cluster_job=DEFAULTS["monitoring_job_minio_cluster"],
        node_job=DEFAULTS["monitoring_job_minio_node"],
        node_exporter_job=DEFAULTS["monitoring_job_node_exporter"],
        token_file=str(env.token_file),
        textfile_dir=str(env.textfile_dir),
        mountpoint=DEFAULTS["monitoring_data_mountpoint"],
        down_for=minutes(DEFAULTS["monitoring_alert_minio_down_for"]),
        offline_for=minutes(DEFAULTS["monitoring_alert_offline_for"]),
        capacity_for=minutes(DEFAULTS["monitoring_alert_capacity_for"]),
        capacity_pct=capacity_pct,
        low_free=low_free,
        low_free_pct="%.4g" % (low_free / 10),
        ok_free=int(capacity_pct * 10) + 100,
        backup_hours=backup_hours,
        stale_age_text=humanize_duration((backup_hours + 1) * 3600),
        absent_for=minutes(DEFAULTS["monitoring_alert_backup_absent_for"]),
        failed_for=minutes(DEFAULTS["monitoring_alert_backup_failed_for"]),
        volume_for=minutes(DEFAULTS["monitoring_alert_volume_for"]),
    )
    test_file = env.base / "rules_test.yml"
    test_file.write_text(rendered)
    proc = subprocess.run([PROMTOOL, "test", "rules", str(test_file)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout + proc.stderr

    alerts = {rule["alert"] for group in yaml.safe_load(env.rules_file.read_text())["groups"]
              for rule in group["rules"] if "alert" in rule}
    assert len(alerts) == 8
    fires, silent = set(), set()
    for case in yaml.safe_load(rendered)["tests"]:
        for check in case["alert_rule_test"]:
            (fires if check["exp_alerts"] else silent).add(check["alertname"])
    assert fires == alerts, alerts - fires
    assert silent == alerts, alerts - silent


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"monitoring_minio_prometheus_secret_key": "minioadmin"}, "monitoring_minio_prometheus_secret_key"),
        ({"monitoring_alert_capacity_free_percent": 120}, "monitoring_alert_capacity_free_percent"),
        ({"monitoring_token_mode": "0644"}, "monitoring_token_mode"),
    ],
)
def test_bad_input_is_refused_before_any_change(tmp_path, minio, extra, message):
    bad = Env(tmp_path, minio)
    secret = extra.pop("monitoring_minio_prometheus_secret_key", SECRET_1)
    result = bad.apply(secret=secret, verbosity=1, json_output=False, **extra)
    assert result.rc != 0
    assert message in result.stdout
    assert not bad.etc.exists()
    assert minio.secret_key not in result.stdout


# --- real scrapes ---------------------------------------------------------------


def test_metrics_endpoints_refuse_requests_without_the_token(env, applied):
    for path in ("/minio/v2/metrics/cluster", "/minio/v2/metrics/node"):
        assert metrics_status(env.minio.endpoint, path, None) == 403
        assert metrics_status(env.minio.endpoint, path, "not-a-token") == 403
        assert metrics_status(env.minio.endpoint, path, env.token_file.read_text().strip()) == 200


def test_prometheus_scrapes_minio_with_the_token(env, prometheus):
    cluster, node = DEFAULTS["monitoring_job_minio_cluster"], DEFAULTS["monitoring_job_minio_node"]

    def scraped():
        by_job = {t["labels"]["job"]: t for t in prometheus.targets()}
        done = all(by_job.get(job, {}).get("health") in ("up", "down") for job in (cluster, node, NO_TOKEN_JOB))
        return by_job if done else None

    by_job = prometheus.wait_for(scraped)
    assert by_job, prometheus.log_text()[-3000:]
    for job in (cluster, node):
        assert by_job[job]["health"] == "up", by_job[job]
        result = prometheus.query(f'up{{job="{job}"}}')
        assert [sample["value"][1] for sample in result] == ["1"]
    # The same endpoint scraped without the token: MinIO answers 403 and Prometheus marks it down.
    assert by_job[NO_TOKEN_JOB]["health"] == "down"
    assert "403" in by_job[NO_TOKEN_JOB]["lastError"]
    assert [s["value"][1] for s in prometheus.query(f'up{{job="{NO_TOKEN_JOB}"}}')] == ["0"]


def test_every_dashboard_query_returns_data(env, prometheus):
    queries = [(name, substitute(expr)) for name, expr in dashboard_queries()]
    assert len(queries) >= 30

    def missing():
        return [(name, expr) for name, expr in queries if not prometheus.query(expr)]

    # The data scanner publishes usage metrics a little after start, and rates need two scrapes.
    prometheus.wait_for(lambda: not missing(), timeout=300, interval=3)
    assert missing() == []
    # The variables' label_values() queries find the role's jobs.
    for variable in dashboard_variables():
        match = re.fullmatch(r"label_values\((\w+), (\w+)\)", variable.get("definition", ""))
        if not match:
            continue
        values = prometheus.api(f"label/{match.group(2)}/values", **{"match[]": match.group(1)})
        assert values, variable["name"]
        jobs = ("monitoring_job_minio_cluster", "monitoring_job_minio_node", "monitoring_job_node_exporter")
        assert set(values) <= {DEFAULTS[k] for k in jobs}, values


def test_alert_state_in_live_prometheus(env, prometheus):
    """The live rules evaluate: with MinIO up, a fresh backup and a mounted volume, nothing fires."""
    rules = prometheus.wait_for(lambda: [r for g in prometheus.api("rules")["groups"] for r in g["rules"]
                                         if r.get("lastEvaluation", "").startswith("20")])
    assert rules
    firing = {r["name"] for r in rules if r["type"] == "alerting" and r["state"] != "inactive"}
    # The live volume alert watches /srv/koprogo-data, which this machine does not mount.
    assert firing <= {"KoproGoDataVolumeNotMounted"}, firing


# --- token rotation (last: it changes the user's secret) ------------------------


def test_token_is_reminted_when_the_secret_rotates(env, prometheus):
    old_token = env.token_file.read_text().strip()
    rotated = env.apply(secret=SECRET_2)
    assert rotated.rc == 0, rotated.stdout + rotated.stderr
    token_task = task(rotated, "Keep the MinIO bearer token valid for the current secret")
    assert token_task["changed"] is True
    assert task(rotated, "Report the state of the token")["msg"].endswith("(the secret key rotated)")
    new_token = env.token_file.read_text().strip()
    assert new_token != old_token
    assert stat.S_IMODE(env.token_file.stat().st_mode) == 0o600
    # MinIO took the new secret: the old token is refused, the new one accepted.
    assert metrics_status(env.minio.endpoint, "/minio/v2/metrics/cluster", old_token) == 403
    assert metrics_status(env.minio.endpoint, "/minio/v2/metrics/cluster", new_token) == 200

    # Prometheus reads credentials_file at every scrape: it keeps scraping without a reload.
    rotated_at = time.time()
    job = DEFAULTS["monitoring_job_minio_cluster"]

    def scraped_after_rotation():
        target = next(t for t in prometheus.targets() if t["labels"]["job"] == job)
        scraped_at = target["lastScrape"]
        when = calendar.timegm(time.strptime(scraped_at[:19], "%Y-%m-%dT%H:%M:%S"))
        return target if when > rotated_at + 1 else None

    target = prometheus.wait_for(scraped_after_rotation, timeout=60)
    assert target and target["health"] == "up", target

    # Same secret again: nothing changes, the token file keeps its bytes.
    again = env.apply(secret=SECRET_2)
    assert again.rc == 0
    assert again.changed == 0, {name: r for name, r in again.tasks.items() if r.get("changed")}
    assert env.token_file.read_text().strip() == new_token


def test_secrets_never_appear_in_verbose_output(env, prometheus):
    # Rotate back with -vvv: the run changes the secret and the token, the output shows neither.
    result = env.apply(secret=SECRET_1, verbosity=3, json_output=False)
    assert result.rc == 0, result.stdout[-3000:] + result.stderr[-3000:]
    output = result.stdout + result.stderr
    token = env.token_file.read_text().strip()
    for secret in (SECRET_1, SECRET_2, env.minio.secret_key, token, token.split(".")[2]):
        assert secret not in output
    assert "changed" in output
