#!/usr/bin/env bash
# Shared by docker/run-tests and docker/try: builds the test image. Sourced.

# pmd_docker_image: make sure the base image exists, then build the test
# image $PMD_IMAGE (cached layers) from the repository and the host's Go.
PMD_IMAGE=${PMD_TEST_IMAGE:-pmd-test}
pmd_docker_image() {
	if [ -n "${PMD_IMAGE_AS_IS:-}" ] && docker image inspect "$PMD_IMAGE" >/dev/null 2>&1; then
		echo "image $PMD_IMAGE: used as it is (PMD_IMAGE_AS_IS), not rebuilt from the sources"
		return 0
	fi
	bash "$PMD_ROOT/docker/build-base"
	command -v go >/dev/null || export PATH=$PATH:/usr/local/go/bin
	local goroot ctx start
	goroot=$(go env GOROOT)
	# The build context: the repository (tracked and untracked files, not
	# ignored ones), the host's Go toolchain (hard-linked where possible)
	# and the certificate authorities the host trusts beyond Debian's.
	ctx=$(mktemp -d /tmp/pmd-docker.XXXXXX)
	mkdir -p "$ctx/pmd" "$ctx/ca"
	(cd "$PMD_ROOT" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$ctx/pmd")
	cp -al "$goroot" "$ctx/go" 2>/dev/null || cp -a "$goroot" "$ctx/go"
	cp "$PMD_ROOT/docker/Dockerfile" "$ctx/Dockerfile"
	cp /usr/local/share/ca-certificates/*.crt "$ctx/ca/" 2>/dev/null || true
	start=$(date +%s)
	if ! docker build -q -t "$PMD_IMAGE" "$ctx" >/dev/null; then
		rm -rf "$ctx"
		return 1
	fi
	rm -rf "$ctx"
	echo "image $PMD_IMAGE built in $(($(date +%s) - start)) s"
}

# What DPDK and pmd need in a container. Not --privileged (this machine's
# engine refuses it): the capabilities used (namespaces, veth, raw sockets,
# locked memory, pinned threads), /proc/sys writable for the namespaces'
# sysctls, the TUN device (net_tap: the exception path and the reassembly
# tests) and the host's hugepages.
PMD_DOCKER_RUN=(
	--cap-add SYS_ADMIN --cap-add NET_ADMIN --cap-add NET_RAW --cap-add IPC_LOCK --cap-add SYS_NICE
	--device /dev/net/tun
	--security-opt systempaths=unconfined --security-opt seccomp=unconfined --security-opt apparmor=unconfined
	-v /dev/hugepages:/dev/hugepages
)
