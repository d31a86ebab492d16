#!/usr/bin/env bash
# Shared set-up for pmd's scripts: packages, hugepages, the build, and the
# two-namespace test topology. Sourced, not run.

# Packages every script and test needs: DPDK, the kernel's own network
# tools used as peers, packet capture, and Prometheus (TestMetrics scrapes
# pmd with it).
PMD_PACKAGES=(dpdk dpdk-dev libdpdk-dev pkg-config gcc iproute2 iputils-ping iputils-arping socat ethtool nftables tcpdump curl wrk openssl prometheus)

pmd_install() {
	local missing=()
	for p in "${PMD_PACKAGES[@]}"; do
		dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	if ((${#missing[@]})); then
		echo "installing: ${missing[*]}"
		apt-get update -q
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
		# Debian's prometheus starts a server on :9090 where systemd runs;
		# the metrics test starts its own, in a namespace, and stops it.
		if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
			systemctl disable --now prometheus prometheus-node-exporter >/dev/null 2>&1 || true
		fi
	fi
	if ! command -v go >/dev/null; then
		export PATH=$PATH:/usr/local/go/bin
	fi
	command -v go >/dev/null || { echo "Go 1.26 is needed (https://go.dev/dl/)" >&2; return 1; }
}

# pmd_hugepages N: make sure N 2 MiB pages are reserved and hugetlbfs is
# mounted. Where that cannot be done (a container without the host's
# hugepages, a kernel without them, /proc/sys read-only) or when
# PMD_HUGEPAGES=off is set, it says so once and exports PMD_HUGEPAGES=off:
# the tests then run pmd with eal.hugepages = false (--no-huge) and the
# demo runs conf.toml that way.
pmd_hugepages() {
	local want=${1:-1024} have why=''
	if [ "${PMD_HUGEPAGES:-}" = off ]; then
		why="PMD_HUGEPAGES=off"
	else
		have=$(cat /proc/sys/vm/nr_hugepages 2>/dev/null || echo 0)
		if ((have < want)); then
			echo "$want" 2>/dev/null >/proc/sys/vm/nr_hugepages || true
		fi
		if ! grep -q hugetlbfs /proc/mounts; then
			mkdir -p /dev/hugepages 2>/dev/null
			mount -t hugetlbfs nodev /dev/hugepages 2>/dev/null || why="hugetlbfs cannot be mounted"
		fi
		have=$(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo)
		if [ -z "$why" ] && ((${have:-0} < 256)); then
			why="only ${have:-0} hugepages free (/proc/sys/vm/nr_hugepages cannot be raised to $want)"
		fi
	fi
	if [ -n "$why" ]; then
		echo "hugepages: none usable ($why): pmd runs with eal.hugepages = false (--no-huge)"
		export PMD_HUGEPAGES=off
		return 0
	fi
	echo "hugepages: $(cat /proc/sys/vm/nr_hugepages) reserved"
}

pmd_build() {
	(cd "$PMD_ROOT" && go build -o "$PMD_ROOT/bin/pmd" ./cmd/pmd)
}

# The demo and test topology: pmd's namespace holds veth end pmd0 (used by
# net_af_packet), the peer namespace holds peer0 with the kernel's stack.
PMD_NS=${PMD_NS:-pmd-host}
PEER_NS=${PEER_NS:-pmd-peer}
PMD_IF=${PMD_IF:-pmd0}
PEER_IF=${PEER_IF:-peer0}
PEER_ADDR=${PEER_ADDR:-198.18.0.2/24}

pmd_topology_up() {
	pmd_topology_down
	ip netns add "$PMD_NS"
	ip netns add "$PEER_NS"
	ip link add "$PMD_IF" netns "$PMD_NS" type veth peer name "$PEER_IF" netns "$PEER_NS"
	ip -n "$PMD_NS" link set lo up
	ip -n "$PMD_NS" link set "$PMD_IF" up
	# pmd owns this end: the kernel must not answer on it.
	ip netns exec "$PMD_NS" sysctl -qw net.ipv6.conf."$PMD_IF".disable_ipv6=1
	ip -n "$PEER_NS" link set lo up
	ip -n "$PEER_NS" addr add "$PEER_ADDR" dev "$PEER_IF"
	ip -n "$PEER_NS" link set "$PEER_IF" up
	ip netns exec "$PEER_NS" sysctl -qw net.ipv6.conf."$PEER_IF".disable_ipv6=1
	# A veth peer with TX checksum offload sends partial checksums that
	# net_af_packet does not flag: have the kernel compute them in full.
	ip netns exec "$PEER_NS" ethtool -K "$PEER_IF" tx off >/dev/null
}

pmd_topology_down() {
	ip netns del "$PMD_NS" 2>/dev/null || true
	ip netns del "$PEER_NS" 2>/dev/null || true
}
