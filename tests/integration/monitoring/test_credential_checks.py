"""The monitoring role's pre-flight refuses the metrics user's credentials the way minio_user would.

Runs only `tasks_from: validate` on the controller (no host, no change possible): a few seconds.
"""

from __future__ import annotations

import pytest
from helpers.ansible_run import run_playbook

GOOD = {"monitoring_minio_prometheus_user": "koprogo-prometheus",
        "monitoring_minio_prometheus_secret_key": "a-good-secret-of-24-char",
        "monitoring_minio_admin_access_key": "root-user",
        "monitoring_minio_admin_secret_key": "root-secret-of-22-chars"}


@pytest.fixture(scope="module")
def play(tmp_path_factory):
    path = tmp_path_factory.mktemp("monitoring-validate") / "validate.yml"
    path.write_text("- hosts: localhost\n  gather_facts: false\n  connection: local\n  tasks:\n"
                    "    - ansible.builtin.include_role:\n        name: koprogo.storage.monitoring\n"
                    "        tasks_from: validate\n")
    return path


@pytest.mark.parametrize(("extra", "messages"), [
    ({}, []),
    ({"monitoring_minio_prometheus_user": "prom=metrics"}, ["must not contain '='"]),
    ({"monitoring_minio_prometheus_user": "p" * 40}, []),  # a user name may be longer than a service account key
    ({"monitoring_minio_prometheus_secret_key": "changeme"}, ["at least 20 characters", "well-known default value"]),
    ({"monitoring_minio_prometheus_secret_key": "s" * 41}, ["at most 40 characters"]),
    ({"monitoring_minio_prometheus_user": "root-user"}, ["must differ from the MinIO root credentials"]),
], ids=["valid", "equals sign", "long user name", "weak secret", "long secret", "root user"])
def test_metrics_user_checks(play, extra, messages):
    result = run_playbook(play, extra_vars={**GOOD, **extra}, json_output=False)
    output = " ".join(result.stdout.split())
    assert (result.rc == 0) == (not messages), output[-2000:]
    for message in messages:
        assert message in output, output[-2000:]
    for secret in ("changeme", "s" * 41, GOOD["monitoring_minio_prometheus_secret_key"]):
        assert secret not in output.replace("monitoring_minio_prometheus_secret_key", "")
