"""The systemd test host every role test builds on: boots, runs units, is reachable by Ansible."""

from __future__ import annotations

import secrets
import urllib.request

import pytest
from helpers.ansible_run import run_playbook
from helpers.systemd_host import SystemdHost, free_port


@pytest.fixture(scope="module")
def host():
    h = SystemdHost(f"kp-infra-{secrets.token_hex(3)}").start()
    yield h
    h.stop()


def test_systemd_is_the_service_manager(host):
    assert host.exec(["systemctl", "is-system-running"], check=False).stdout.strip() in ("running", "degraded")
    assert host.exec(["cat", "/proc/1/comm"]).stdout.strip() == "systemd"
    assert host.is_active("cron")
    assert "Debian GNU/Linux 12" in host.read_file("/etc/os-release").decode()


def test_ansible_converges_a_unit_on_loopback(host, tmp_path):
    """A service started through Ansible's docker connection answers on 127.0.0.1 from the host."""
    port = free_port()
    inventory = host.inventory(tmp_path / "hosts.yml", hostvars={"probe_port": port})
    playbook = tmp_path / "probe.yml"
    playbook.write_text(f"""
- hosts: storage
  gather_facts: false
  tasks:
    - name: Probe unit
      ansible.builtin.copy:
        dest: /etc/systemd/system/probe.service
        mode: "0644"
        content: |
          [Service]
          ExecStart=/usr/bin/python3 -m http.server --bind 127.0.0.1 {{{{ probe_port }}}} --directory /etc/probe
    - name: Page directory
      ansible.builtin.file:
        path: /etc/probe
        state: directory
        mode: "0755"
    - name: Page
      ansible.builtin.copy:
        dest: /etc/probe/index.html
        content: "{host.name}"
        mode: "0644"
    - name: Start it
      ansible.builtin.systemd_service:
        name: probe
        state: started
        daemon_reload: true
    - name: Wait for it
      ansible.builtin.wait_for:
        host: 127.0.0.1
        port: "{{{{ probe_port }}}}"
        timeout: 60
""")
    result = run_playbook(playbook, inventory=str(inventory))
    assert result.rc == 0, result.stdout + result.stderr
    assert result.changed >= 4
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as resp:  # noqa: S310 (loopback)
        assert resp.read().decode() == host.name
    again = run_playbook(playbook, inventory=str(inventory))
    assert again.rc == 0 and again.changed == 0
