package e2e

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// noHuge is set by TestMain when this host cannot give pmd hugepages: the
// tests then run every configuration with eal.hugepages = false (DPDK's
// --no-huge) instead of failing, and say so once.
var noHuge bool

// minHugepages is what the tests need free: the largest run holds two
// processes (a memif pair, or a client and a server) of about 150 MiB each.
const minHugepages = 256

// hugepagesMissing tells why pmd cannot use hugepages here, or "" when it
// can. PMD_HUGEPAGES=off forces the answer, to run the suite as a host
// without hugepages would.
func hugepagesMissing() string {
	if os.Getenv("PMD_HUGEPAGES") == "off" {
		return "PMD_HUGEPAGES=off"
	}
	mounts, err := os.ReadFile("/proc/mounts")
	if err != nil || !strings.Contains(string(mounts), " hugetlbfs ") {
		return "no hugetlbfs is mounted"
	}
	meminfo, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return err.Error()
	}
	m := regexp.MustCompile(`(?m)^HugePages_Free:\s+(\d+)`).FindSubmatch(meminfo)
	if m == nil {
		return "the kernel has no hugepages (no HugePages_Free in /proc/meminfo)"
	}
	if free, _ := strconv.Atoi(string(m[1])); free < minHugepages {
		return fmt.Sprintf("%d hugepages are free, the tests need %d", free, minHugepages)
	}
	return ""
}

var hugepagesKey = regexp.MustCompile(`(?m)^hugepages[ \t]*=[ \t]*true\b`)

// withoutHugepages turns a configuration into its --no-huge form:
// hugepages = false, written after [eal] when the file relies on the
// default. The memory is then computed by pmd (eal.memory_mb = 0).
func withoutHugepages(conf string) string {
	if hugepagesKey.MatchString(conf) {
		return hugepagesKey.ReplaceAllString(conf, "hugepages = false")
	}
	if regexp.MustCompile(`(?m)^hugepages\s*=`).MatchString(conf) {
		return conf
	}
	if strings.Contains(conf, "[eal]\n") {
		return strings.Replace(conf, "[eal]\n", "[eal]\nhugepages = false\n", 1)
	}
	return "[eal]\nhugepages = false\n" + conf
}

func TestWithoutHugepages(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"[eal]\nlcores = [0]\nhugepages = true\n", "[eal]\nlcores = [0]\nhugepages = false\n"},
		{"[eal]\nlcores = [0]\n", "[eal]\nhugepages = false\nlcores = [0]\n"},
		{"[eal]\nhugepages = true # the default\n", "[eal]\nhugepages = false # the default\n"},
		{"[eal]\nhugepages = false\nmemory_mb = 64\n", "[eal]\nhugepages = false\nmemory_mb = 64\n"},
		{"[[port]]\ndevice = \"net_null0\"\n", "[eal]\nhugepages = false\n[[port]]\ndevice = \"net_null0\"\n"},
	} {
		if got := withoutHugepages(c.in); got != c.want {
			t.Errorf("withoutHugepages(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
