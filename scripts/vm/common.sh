# Shared by scripts/vm/*.sh and scripts/vm-run.sh: where the VM's cached
# parts live, and the Debian mirror apt already uses (the only one this
# machine reaches).
vm_cache=${EBPF_FORWARD_VM_CACHE:-/var/cache/ebpf-forward-vm}

vm_say() { echo "ebpf-forward vm: $*" >&2; }
vm_fail() { vm_say "$*"; exit 1; }

# The URI of the Debian archive in apt's sources (a deb822 stanza or a
# one-line entry naming a Debian suite, not -security).
debian_mirror() {
  local uri
  uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '
    /^$/ { if (suites ~ /(bookworm|bullseye|trixie|stable)( |$)/ && uris != "") { print uris; exit } uris = ""; suites = ""; next }
    /^URIs:/ { uris = $2 }
    /^Suites:/ { suites = $0 }
    END { if (suites ~ /(bookworm|bullseye|trixie|stable)( |$)/ && uris != "") print uris }' | head -1)
  [[ -n $uri ]] || uri=$(grep -hE '^deb\s' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
    | grep -v -- '-security' | grep -E '\s(bookworm|bullseye|trixie|stable)\s' | awk '{print ($2 ~ /^\[/) ? $3 : $2}' | head -1)
  echo "${uri:-http://deb.debian.org/debian}"
}
