#!/usr/bin/env bash
# The real container runtimes test/system/runtimes runs containers with: podman,
# docker, containerd (through ctr and through its CRI API, as the kubelet
# uses it) and runc. Installs them (Debian packages), configures them for
# this kind of host (no systemd as PID 1, cgroup v1 hybrid, no registry
# reachable, host networking only), starts containerd and dockerd in the
# background if their sockets don't answer, builds a local Debian base image
# with debootstrap once (kept in $state between runs), and imports it into
# each runtime once. Idempotent, and quick when all is in place.
#
# Each runtime's outcome is one line in $state/status/<runtime> ("ok", or why
# it can't be used here), which test/system/runtimes reads: a runtime that could not
# be set up fails its tests with that line, it is not skipped.
# Called by scripts/test-setup.sh; can be run alone (as root).
set -uo pipefail

state=/var/cache/ebpf-forward-test
status_dir=$state/status
base_tar=$state/debian-bookworm-minbase.tar
archive=$state/images.docker-archive.tar
base_image=ebpf-forward-test-base:bookworm
pause_image=ebpf-forward-test-pause:bookworm
# What containerd calls the pause stand-in once imported from podman's archive.
pause_ref=localhost/$pause_image
runtimes=(podman docker ctr cri)
marker='# Written by ebpf-forward test setup (scripts/test-runtimes.sh).'

say() { echo "ebpf-forward test setup: $*" >&2; }

# Records a runtime's outcome (the first failure stays: it is the cause).
declare -A outcome=()
fail() {
  local runtime
  local why=$1
  shift
  for runtime in "$@"; do
    [[ -n ${outcome[$runtime]:-} ]] || outcome[$runtime]=$why
  done
}
failed() { [[ -n ${outcome[$1]:-} ]]; }

write_status() {
  mkdir -p "$status_dir"
  local runtime
  for runtime in "${runtimes[@]}"; do
    if failed "$runtime"; then
      say "$runtime can't be used: ${outcome[$runtime]}"
      printf '%s\n' "${outcome[$runtime]}" >"$status_dir/$runtime"
    else
      echo ok >"$status_dir/$runtime"
    fi
  done
}

if [[ $(id -u) -ne 0 ]]; then
  say "container runtimes need root: run scripts/test-runtimes.sh as root" >&2
  exit 1
fi
mkdir -p "$state"

# --- packages -------------------------------------------------------------
packages=(podman docker.io containerd runc debootstrap)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  say "installing ${missing[*]}"
  # Their services must not start from the package scripts: docker would
  # start before its daemon.json, and there is no systemd to run them.
  policy=/usr/sbin/policy-rc.d
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\n# ebpf-forward test setup: no service starts while packages are installed\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
    fail "apt-get install ${missing[*]} failed" "${runtimes[@]}"
    write_status
    exit 1
  fi
fi

# --- configuration --------------------------------------------------------
# Writes $2 to $1 unless it holds it already; refuses a file someone else
# wrote (no marker) unless it is the package's own unchanged conffile.
# Returns 0 when it wrote, 1 when unchanged, 2 when refused.
put_config() {
  local path=$1 text=$2 package=${3:-}
  if [[ -e $path ]]; then
    [[ $(cat "$path") == "$text" ]] && return 1
    if ! grep -qF -- "$marker" "$path"; then
      local stock
      stock=$([[ -n $package ]] && dpkg-query -W -f='${Conffiles}\n' "$package" 2>/dev/null | awk -v p="$path" '$1 == p {print $2}')
      [[ -n $stock && $(md5sum <"$path" | cut -d' ' -f1) == "$stock" ]] || return 2
    fi
  fi
  mkdir -p "$(dirname "$path")"
  printf '%s\n' "$text" >"$path.tmp" && mv "$path.tmp" "$path"
  return 0
}

# podman: runc (crun refuses a cgroup v1 hybrid host), cgroupfs (no systemd
# to make scopes), no journald; ulimits within its own (its defaults, 1048576
# files and processes, exceed this host's hard limits, and without
# CAP_SYS_RESOURCE the container then fails to start). podman 4.3 sets its
# own RLIMIT_NPROC to 32768 as it starts, so no more than that.
nofile=$(ulimit -Hn)
nproc=$(ulimit -Hu)
if [[ $nproc == unlimited ]] || ((nproc > 32768)); then nproc=32768; fi
podman_conf="$marker
[containers]
default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]
log_driver = \"k8s-file\"

[engine]
runtime = \"runc\"
cgroup_manager = \"cgroupfs\"
events_logger = \"file\""
put_config /etc/containers/containers.conf.d/ebpf-forward-test.conf "$podman_conf"
(($? == 2)) && fail "/etc/containers/containers.conf.d/ebpf-forward-test.conf was not written by this script; remove it" podman

# containerd: the CRI plugin as the kubelet uses it here. runc can't lower a
# sandbox's oom_score_adj without CAP_SYS_RESOURCE (restrict_oom_score_adj),
# and the pause image is a local stand-in (no registry is reachable).
containerd_conf="$marker
version = 2

[plugins]
  [plugins.\"io.containerd.grpc.v1.cri\"]
    sandbox_image = \"$pause_ref\"
    restrict_oom_score_adj = true
    [plugins.\"io.containerd.grpc.v1.cri\".cni]
      bin_dir = \"/usr/lib/cni\"
      conf_dir = \"/etc/cni/net.d\"
    [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]
      runtime_type = \"io.containerd.runc.v2\"
      [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins.\"io.containerd.internal.v1.opt\"]
    path = \"/var/lib/containerd/opt\""
put_config /etc/containerd/config.toml "$containerd_conf" containerd
case $? in
  0) containerd_config_changed=1 ;;
  2) containerd_config_changed=0
     fail "/etc/containerd/config.toml is not the package's nor ours: its CRI plugin needs sandbox_image = \"$pause_ref\" and restrict_oom_score_adj = true" cri ;;
  *) containerd_config_changed=0 ;;
esac

# docker: no bridge and no iptables rules (every container uses the host's
# network), cgroupfs, and the containerd above.
docker_conf='{
  "bridge": "none",
  "iptables": false,
  "ip-masq": false,
  "exec-opts": ["native.cgroupdriver=cgroupfs"],
  "containerd": "/run/containerd/containerd.sock"
}'
if [[ ! -e /etc/docker/daemon.json ]]; then
  put_config /etc/docker/daemon.json "$docker_conf"
elif ! node -e '
    const c = JSON.parse(require("fs").readFileSync("/etc/docker/daemon.json", "utf8"));
    process.exit(c.bridge === "none" && c.iptables === false ? 0 : 1);' 2>/dev/null; then
  fail '/etc/docker/daemon.json must have "bridge": "none" and "iptables": false (containers here use the host network only)' docker
fi

# --- daemons --------------------------------------------------------------
answers() { timeout 5 "$@" >/dev/null 2>&1; }

# Starts "$name" (command $start...) in its own session, logging to
# /var/log/<name>.log, unless `check` answers; waits until it does.
start_daemon() {
  local name=$1 check=$2
  shift 2
  answers $check && return 0
  say "starting $name (log: /var/log/$name.log)"
  setsid -f "$@" >>"/var/log/$name.log" 2>&1 </dev/null
  for _ in $(seq 1 60); do
    answers $check && return 0
    sleep 0.5
  done
  return 1
}

# A containerd started earlier with the old config is restarted once: only
# one this script started (its pid kept in $state).
if ((containerd_config_changed)) && [[ -s $state/containerd.pid ]]; then
  pid=$(cat "$state/containerd.pid")
  if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == containerd ]]; then
    say "restarting containerd ($pid) for its new config"
    kill "$pid"
    for _ in $(seq 1 40); do [[ -e /proc/$pid ]] || break; sleep 0.25; done
  fi
fi
if start_daemon containerd 'ctr version' bash -c "echo \$\$ >$state/containerd.pid; exec containerd"; then
  # The socket answers: was this containerd started before its config? Then CRI lacks it.
  if ((containerd_config_changed)) && ! [[ -s $state/containerd.pid && -e /proc/$(cat "$state/containerd.pid") ]]; then
    fail "containerd was already running with another config; restart it to read /etc/containerd/config.toml" cri
  fi
else
  fail "containerd did not answer on /run/containerd/containerd.sock (see /var/log/containerd.log)" ctr cri docker
fi
if ! failed docker && ! start_daemon dockerd 'docker version' dockerd; then
  fail "dockerd did not answer on /var/run/docker.sock (see /var/log/dockerd.log)" docker
fi
# podman's API (Docker-compatible), which ebpf-forward reads container
# names and images from: the service, with no idle timeout.
podman_socket=/run/podman/podman.sock
mkdir -p "$(dirname "$podman_socket")"
if ! failed podman && ! start_daemon podman-service "podman --remote --url unix://$podman_socket version" \
    podman system service --time=0 "unix://$podman_socket"; then
  fail "podman system service did not answer on $podman_socket (see /var/log/podman-service.log)" podman
fi

# --- the base image -------------------------------------------------------
debian_mirror() {
  local uri
  uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}' | grep -v -- '-security' | head -1)
  [[ -n $uri ]] || uri=$(grep -hE '^deb\s' /etc/apt/sources.list 2>/dev/null | grep -v -- '-security' | awk '{print ($2 ~ /^\[/) ? $3 : $2}' | head -1)
  echo "${uri:-http://deb.debian.org/debian}"
}

if [[ ! -s $base_tar ]]; then
  mirror=$(debian_mirror)
  say "building the base image: debootstrap --variant=minbase bookworm from $mirror (once; kept in $state)"
  rootfs=$(mktemp -d "$state/rootfs.XXXXXX")
  if debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$state/debootstrap.log" 2>&1 \
    && tar -C "$rootfs" -cf "$base_tar.part" . && mv "$base_tar.part" "$base_tar"; then
    rm -f "$archive"
  else
    fail "debootstrap of the base image failed (see $state/debootstrap.log)" "${runtimes[@]}"
  fi
  rm -rf "$rootfs" "$base_tar.part"
fi

# An imported image has no environment: PATH as Debian's images set it.
path_env='ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
# podman holds both images, and makes the docker archive containerd imports.
if ! failed podman; then
  podman image exists "localhost/$base_image" || podman import -q --change "$path_env" "$base_tar" "$base_image" >/dev/null \
    || fail "podman import of $base_tar failed" podman
  # The pause stand-in: the base, whose command sleeps until the sandbox is killed.
  podman image exists "localhost/$pause_image" || podman import -q --change "$path_env" --change 'CMD ["/bin/sleep", "infinity"]' "$base_tar" "$pause_image" >/dev/null \
    || fail "podman import of $base_tar as $pause_image failed" podman cri
fi
if ! failed docker; then
  docker image inspect "localhost/$base_image" >/dev/null 2>&1 || docker import --change "$path_env" "$base_tar" "localhost/$base_image" >/dev/null \
    || fail "docker import of $base_tar failed" docker
fi
if [[ ! -s $archive ]] && ! failed podman; then
  podman save -q -m --format docker-archive -o "$archive.part" "localhost/$base_image" "localhost/$pause_image" && mv "$archive.part" "$archive"
  rm -f "$archive.part"
fi
[[ -s $archive ]] || fail "no docker archive of the images to import into containerd (podman save failed)" ctr cri
for ns in default k8s.io; do
  runtime=$([[ $ns == default ]] && echo ctr || echo cri)
  failed "$runtime" && continue
  have=$(ctr -n "$ns" images ls -q 2>/dev/null)
  grep -qx "localhost/$base_image" <<<"$have" && grep -qx "$pause_ref" <<<"$have" && continue
  ctr -n "$ns" images import "$archive" >/dev/null || fail "ctr -n $ns images import $archive failed" "$runtime"
done

write_status

# The stand-ins of docker/Dockerfile's base images, which test/system/image builds
# it on (scripts/test-node-images.sh, made once and kept).
node_stand_ins() {
  if failed podman; then
    printf 'podman is not set up: %s\n' "${outcome[podman]}" >"$status_dir/node-images"
  else
    bash "$(dirname "$0")/test-node-images.sh"
  fi
}
node_stand_ins
