#!/usr/bin/env bash
# Disposable Debian 12 VMs under qemu (TCG) for tests that need a real kernel
# (dm-crypt, reboots). Used by molecule/luks create.yml and destroy.yml.
#
#   vm.sh image                     build (or reuse) the cached base image, print its dir
#   vm.sh up DIR [DISK_SPEC...]     boot a VM whose state lives in DIR; prints DIR/instance.env
#                                   DISK_SPEC = NAME:SIZE[:ext4]  extra raw virtio disk in DIR/NAME.img,
#                                   ":ext4" pre-formats it on the host and stores a marker file in it
#   vm.sh down DIR                  power the VM off and remove DIR
#   vm.sh ssh DIR [CMD...]          ssh into the VM (debugging)
#
# The base image is built with debootstrap from the machine's own apt mirror and
# cached under ~/.cache/koprogo-storage/vm-images/<hash of the recipe>/. Each VM boots a qcow2 overlay of it,
# so the cached image never changes. The guest network is qemu user-mode with
# restrict=on: the guest reaches nothing, the host reaches it through hostfwd on
# 127.0.0.1 only.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root_dir=$(cd "$here/../.." && pwd)
# Base images are keyed by their recipe and never change once built, so they live in the
# machine's cache, shared by every clone: a fresh clone on a warm machine skips debootstrap.
vm_cache=${KOPROGO_MACHINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/koprogo-storage}/vm-images

# Recipe: changing anything here changes the hash and rebuilds the image.
vm_suite=bookworm
vm_packages=linux-image-amd64,systemd-sysv,systemd-timesyncd,dbus,openssh-server,udev,kmod,initramfs-tools,cryptsetup,cryptsetup-bin,e2fsprogs,xfsprogs,python3,sudo,iproute2,procps,ca-certificates
vm_root_size=3G

apt_mirror() {
  # First Debian archive URI of the machine's apt sources (deb822 or one-line format).
  local uri=""
  if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
    uri=$(awk '/^URIs:/ {for (i = 2; i <= NF; i++) if ($i !~ /security/) {print $i; exit}}' /etc/apt/sources.list.d/*.sources)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/) {print $i; exit}}' /etc/apt/sources.list)
  fi
  [ -n "$uri" ] || { echo "vm.sh: no Debian mirror found in the apt sources" >&2; exit 1; }
  echo "$uri"
}

customise_rootfs() {
  local rootfs=$1
  echo koprogo-vm >"$rootfs/etc/hostname"
  printf '127.0.0.1 localhost\n127.0.1.1 koprogo-vm\n' >"$rootfs/etc/hosts"
  printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n' >"$rootfs/etc/fstab"
  mkdir -p "$rootfs/etc/systemd/network" "$rootfs/root/.ssh"
  chmod 700 "$rootfs/root/.ssh"
  printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=ipv4\n' >"$rootfs/etc/systemd/network/10-vm.network"
  # The test's SSH public key comes on the kernel command line (koprogo.ssh_key=<base64>).
  cat >"$rootfs/usr/local/sbin/vm-authorized-key" <<'EOF'
#!/bin/sh
set -eu
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    koprogo.ssh_key=*) echo "${arg#koprogo.ssh_key=}" | base64 -d >/root/.ssh/authorized_keys ;;
  esac
done
chmod 600 /root/.ssh/authorized_keys 2>/dev/null || true
EOF
  chmod 755 "$rootfs/usr/local/sbin/vm-authorized-key"
  cat >"$rootfs/etc/systemd/system/vm-authorized-key.service" <<'EOF'
[Unit]
Description=Install the test SSH key from the kernel command line
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/vm-authorized-key

[Install]
WantedBy=multi-user.target
EOF
  chroot "$rootfs" systemctl enable vm-authorized-key.service systemd-networkd.service >/dev/null 2>&1
  chroot "$rootfs" systemctl disable systemd-timesyncd.service >/dev/null 2>&1 || true
  # Faster boots: no waiting for "online", no getty on tty1 (serial console stays).
  chroot "$rootfs" systemctl mask systemd-networkd-wait-online.service getty@tty1.service >/dev/null 2>&1
  printf 'UseDNS no\n' >"$rootfs/etc/ssh/sshd_config.d/10-vm.conf"
  # Less work under TCG at every boot: no e2scrub, no apt/maintenance timers, no drivers
  # for hardware the tests never use (kvm, wifi, watchdog, beeper, mouse, graphics).
  chroot "$rootfs" systemctl mask e2scrub_reap.service e2scrub_all.timer apt-daily.timer \
    apt-daily-upgrade.timer fstrim.timer dpkg-db-backup.timer >/dev/null 2>&1 || true
  printf 'blacklist %s\n' kvm kvm_amd kvm_intel ccp cfg80211 rfkill pcspkr iTCO_wdt iTCO_vendor_support \
    intel_pmc_bxt drm psmouse serio_raw i2c_i801 lpc_ich >"$rootfs/etc/modprobe.d/vm-unused.conf"
  # Ansible sends every module with its module_utils as Python source in a zip (AnsiballZ) and
  # zipimport compiles that source again for every task: seconds per task under TCG. This keeps
  # the compiled code of zip imports, keyed by the source's sha256, as __pycache__ does for
  # ordinary imports. The code that runs is the same; only the compile is saved.
  cat >"$rootfs/usr/lib/python3/dist-packages/vm_zipimport_cache.py" <<'EOF'
"""Test VM only (tests/tools/vm.sh): cache the code objects zipimport compiles."""
import zipimport

_CACHE = "/var/cache/vm-zipimport"
_compile = zipimport._compile_source


def _cached_compile(pathname, source):
    import _imp
    import hashlib
    import marshal
    import os
    import sys

    key = b"%d %d\0" % (sys.hexversion, sys.flags.optimize)
    path = os.path.join(_CACHE, hashlib.sha256(key + source).hexdigest())
    try:
        with open(path, "rb") as f:
            code = marshal.load(f)
        _imp._fix_co_filename(code, pathname)
        return code
    except Exception:
        pass
    code = _compile(pathname, source)
    try:
        tmp = "%s.%d" % (path, os.getpid())
        with open(tmp, "wb") as f:
            marshal.dump(code, f)
        os.replace(tmp, path)
    except Exception:
        pass
    return code


zipimport._compile_source = _cached_compile
EOF
  echo 'import vm_zipimport_cache' >"$rootfs/usr/lib/python3/dist-packages/vm_zipimport_cache.pth"
  install -d -m 0700 "$rootfs/var/cache/vm-zipimport"
  rm -f "$rootfs/etc/machine-id"; : >"$rootfs/etc/machine-id"
  chroot "$rootfs" apt-get clean
}

recipe_hash() {
  { echo "$vm_suite $vm_packages $vm_root_size"; declare -f customise_rootfs build_image; } | sha256sum | cut -c1-16
}

build_image() {
  local out=$1 work rootfs mirror
  work=$(mktemp -d "$vm_cache/build.XXXXXX")
  rootfs=$work/rootfs
  mirror=$(apt_mirror)
  echo "vm.sh: debootstrap $vm_suite into $rootfs" >&2
  debootstrap --variant=minbase --include="$vm_packages" "$vm_suite" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
  customise_rootfs "$rootfs"
  cp "$rootfs"/boot/vmlinuz-* "$work/vmlinuz"
  cp "$rootfs"/boot/initrd.img-* "$work/initrd.img"
  rm -f "$rootfs"/dev/* 2>/dev/null || true
  mkfs.ext4 -q -L vmroot -d "$rootfs" "$work/root.img" "$vm_root_size"
  rm -rf "$rootfs"
  mkdir -p "$out"
  mv "$work/vmlinuz" "$work/initrd.img" "$work/root.img" "$out/"
  rm -rf "$work"
}

cmd_image() {
  mkdir -p "$vm_cache"
  local out
  out=$vm_cache/debian12-$(recipe_hash)
  exec 9>"$vm_cache/.image.lock"
  flock 9
  if [ ! -f "$out/root.img" ]; then
    build_image "$out" >&2  # stdout carries only the image directory
  fi
  echo "$out"
}

# One port picker for every test process (tests/helpers/ports.py says why).
free_port() {
  python3 "$root_dir/tests/helpers/ports.py"
}

cmd_up() {
  local dir=$1; shift
  local image ssh_port minio_port pubkey disk name size kind drives=()
  image=$(cmd_image)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  qemu-img create -q -f qcow2 -F raw -b "$image/root.img" "$dir/root.qcow2"
  rm -f "$dir/id_ed25519" "$dir/id_ed25519.pub"
  ssh-keygen -q -t ed25519 -N '' -C koprogo-vm-test -f "$dir/id_ed25519"
  pubkey=$(base64 -w0 <"$dir/id_ed25519.pub")
  for disk in "$@"; do
    IFS=: read -r name size kind <<<"$disk"
    rm -f "$dir/$name.img"
    truncate -s "$size" "$dir/$name.img"
    if [ "${kind:-}" = ext4 ]; then
      local seed
      seed=$(mktemp -d)
      echo "existing data that must survive" >"$seed/keep-me.txt"
      mkfs.ext4 -q -L existing -d "$seed" "$dir/$name.img"
      rm -rf "$seed"
    fi
    drives+=(-drive "file=$dir/$name.img,format=raw,if=none,id=$name,cache=writeback"
             -device "virtio-blk-pci,drive=$name,serial=$name")
  done
  ssh_port=$(free_port)
  minio_port=$(free_port)
  # TCG speed: la57=off keeps 4-level page tables (one level less to walk on every guest TLB
  # miss); tsc=reliable gives the guest the TSC clocksource (read in user space) instead of
  # the emulated HPET (an MMIO exit per clock read: the TSC looks unsynchronised to the
  # guest only because vCPUs are host threads); mitigations=off drops retpolines in a
  # throwaway test guest; quiet spares the emulated serial port the boot messages.
  qemu-system-x86_64 -nodefaults -machine q35 -accel tcg,thread=multi -cpu max,la57=off -smp 2 -m 2048 \
    -display none -serial "file:$dir/console.log" -monitor none \
    -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 net.ifnames=0 quiet tsc=reliable mitigations=off koprogo.ssh_key=$pubkey" \
    -drive "file=$dir/root.qcow2,format=qcow2,if=none,id=root,cache=writeback" \
    -device virtio-blk-pci,drive=root,serial=root \
    "${drives[@]}" \
    -netdev "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:$ssh_port-:22,hostfwd=tcp:127.0.0.1:$minio_port-:9000" \
    -device virtio-net-pci,netdev=net0 \
    -pidfile "$dir/qemu.pid" -daemonize
  cat >"$dir/instance.env" <<EOF
VM_DIR=$dir
VM_SSH_PORT=$ssh_port
VM_MINIO_PORT=$minio_port
VM_SSH_KEY=$dir/id_ed25519
EOF
  wait_ssh "$dir" "$ssh_port"
  cat "$dir/instance.env"
}

ssh_opts() {
  local dir=$1 port=$2
  echo "-i $dir/id_ed25519 -p $port -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=10"
}

wait_ssh() {
  # Bounded by attempts, not by a clock: TCG boot time varies with host load.
  local dir=$1 port=$2 attempt
  for attempt in $(seq 1 120); do
    # shellcheck disable=SC2046
    if ssh $(ssh_opts "$dir" "$port") root@127.0.0.1 true 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$(cat "$dir/qemu.pid")" 2>/dev/null; then
      echo "vm.sh: qemu exited; console:" >&2; tail -n 40 "$dir/console.log" >&2; exit 1
    fi
    sleep 3
  done
  echo "vm.sh: no SSH after $attempt attempts; console:" >&2
  tail -n 40 "$dir/console.log" >&2
  exit 1
}

cmd_down() {
  local dir=$1 pid
  [ -d "$dir" ] || return 0
  if [ -f "$dir/qemu.pid" ]; then
    pid=$(cat "$dir/qemu.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  fi
  rm -rf "$dir"
}

cmd_ssh() {
  local dir=$1; shift
  # shellcheck disable=SC1091
  . "$dir/instance.env"
  # shellcheck disable=SC2046
  exec ssh $(ssh_opts "$dir" "$VM_SSH_PORT") root@127.0.0.1 "$@"
}

case "${1:-}" in
  image) cmd_image ;;
  up) shift; cmd_up "$@" ;;
  down) shift; cmd_down "$@" ;;
  ssh) shift; cmd_ssh "$@" ;;
  *) sed -n '2,12p' "$0"; exit 2 ;;
esac
