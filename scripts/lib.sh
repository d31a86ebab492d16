#!/usr/bin/env bash
# Shared set-up for pmd's scripts: packages, hugepages, the build, and the
# two-namespace test topology. Sourced, not run.

# Packages every script and test needs: DPDK, the kernel's own network
# tools used as peers, and packet capture.
PMD_PACKAGES=(dpdk dpdk-dev libdpdk-dev pkg-config gcc iproute2 iputils-ping iputils-arping socat ethtool nftables tcpdump curl wrk openssl)

pmd_install() {
	local missing=()
	for p in "${PMD_PACKAGES[@]}"; do
		dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	if ((${#missing[@]})); then
		echo "installing: ${missing[*]}"
		apt-get update -q
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
	fi
	if ! command -v go >/dev/null; then
		export PATH=$PATH:/usr/local/go/bin
	fi
	command -v go >/dev/null || { echo "Go 1.26 is needed (https://go.dev/dl/)" >&2; return 1; }
}

# pmd_hugepages N: make sure N 2 MiB pages are reserved and hugetlbfs is mounted.
pmd_hugepages() {
	local want=${1:-1024}
	local have
	have=$(cat /proc/sys/vm/nr_hugepages)
	if ((have < want)); then
		echo "$want" >/proc/sys/vm/nr_hugepages
	fi
	if ! grep -q hugetlbfs /proc/mounts; then
		mkdir -p /dev/hugepages
		mount -t hugetlbfs nodev /dev/hugepages
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
