#!/bin/sh
# Prints a container runtime's default seccomp profile with bpf(2) allowed
# to a holder of CAP_BPF and perf_event_open(2) to a holder of CAP_PERFMON,
# as containerd's default profile has them. The profile of podman, CRI-O
# (containers-common's /usr/share/containers/seccomp.json) and docker 20.10
# allows both only to CAP_SYS_ADMIN, so ebpf-forward with CAP_BPF and
# CAP_PERFMON alone gets EPERM from its very first bpf(2). Every other rule
# stays as the runtime wrote it. Needs jq.
#   deploy/seccomp/allow-bpf.sh [/usr/share/containers/seccomp.json] > ebpf-forward-seccomp.json
#   podman run --security-opt seccomp=ebpf-forward-seccomp.json --cap-drop ALL --cap-add BPF --cap-add PERFMON ...
# For Kubernetes on CRI-O, put it on each node as
# /var/lib/kubelet/seccomp/ebpf-forward.json and set the DaemonSet's
# seccompProfile to {type: Localhost, localhostProfile: ebpf-forward.json}.
set -eu
profile=${1:-/usr/share/containers/seccomp.json}
command -v jq >/dev/null || { echo "allow-bpf.sh: needs jq (apt-get install jq)" >&2; exit 1; }
[ -r "$profile" ] || { echo "allow-bpf.sh: cannot read $profile: give the runtime's default seccomp profile" >&2; exit 1; }
# A rule applies when the container holds every capability of its
# includes.caps and none of its excludes.caps; exactly one of these applies
# to each call, whatever the container holds (CAP_SYS_ADMIN keeps its own
# rule).
exec jq '
  def others: . - ["bpf", "perf_event_open"];
  def only_for($call; $cap): [
    {names: [$call], action: "SCMP_ACT_ALLOW", includes: {caps: [$cap]}, excludes: {caps: ["CAP_SYS_ADMIN"]}},
    {names: [$call], action: "SCMP_ACT_ERRNO", errnoRet: 1, excludes: {caps: [$cap, "CAP_SYS_ADMIN"]}}
  ];
  if ([.syscalls[] | select(.action == "SCMP_ACT_ALLOW" and ((.names | index("bpf")) != null) and (.includes.caps == ["CAP_SYS_ADMIN"]))] | length) == 0
  then error("no rule allowing bpf to CAP_SYS_ADMIN: not a profile this script knows") else . end
  | .syscalls |= (map(if .action == "SCMP_ACT_ERRNO" and (.excludes.caps == ["CAP_SYS_ADMIN"]) then .names |= others else . end)
      | map(select(.names | length > 0)))
  | .syscalls += only_for("bpf"; "CAP_BPF") + only_for("perf_event_open"; "CAP_PERFMON")
' "$profile"
