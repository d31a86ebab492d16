package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fakeHost writes files (path relative to a temporary directory →
// contents) and returns the directory.
func fakeHost(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const (
	hp2M     = "sys/kernel/mm/hugepages/hugepages-2048kB/"
	hp1G     = "sys/kernel/mm/hugepages/hugepages-1048576kB/"
	rootfs   = "/dev/sda1 / ext4 rw,relatime 0 0\n"
	hugeMnt  = "hugetlbfs /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0\n"
	giantMnt = "none /mnt/huge\\0401G hugetlbfs rw,relatime,pagesize=1024M 0 0\n"
)

func TestReadHugepages(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  Hugepages
	}{{
		name: "2M preferred over 1G",
		files: map[string]string{
			hp2M + "nr_hugepages": "512\n", hp2M + "free_hugepages": "500\n",
			hp1G + "nr_hugepages": "2\n", hp1G + "free_hugepages": "2\n",
			"mounts": rootfs + hugeMnt + giantMnt,
		},
		want: Hugepages{PageSize: 2 << 20, Total: 512, Free: 500, Mounted: true,
			MountPoints: []string{"/dev/hugepages", "/mnt/huge 1G"}},
	}, {
		name: "only 1G, mounted for 2M only",
		files: map[string]string{
			hp1G + "nr_hugepages": "4\n", hp1G + "free_hugepages": "1\n",
			"mounts": rootfs + hugeMnt,
		},
		want: Hugepages{PageSize: 1 << 30, Total: 4, Free: 1, MountPoints: []string{"/dev/hugepages"}},
	}, {
		name: "1G mount",
		files: map[string]string{
			hp1G + "nr_hugepages": "4\n", hp1G + "free_hugepages": "1\n",
			"mounts": giantMnt,
		},
		want: Hugepages{PageSize: 1 << 30, Total: 4, Free: 1, Mounted: true, MountPoints: []string{"/mnt/huge 1G"}},
	}, {
		name: "mount without pagesize serves the default size",
		files: map[string]string{
			hp2M + "nr_hugepages": "0\n", hp2M + "free_hugepages": "0\n",
			"mounts": "nodev /dev/hugepages hugetlbfs rw,relatime 0 0\n",
		},
		want: Hugepages{PageSize: 2 << 20, Mounted: true, MountPoints: []string{"/dev/hugepages"}},
	}, {
		name:  "kernel without hugepages",
		files: map[string]string{"sys/kernel/mm/x": "", "mounts": rootfs},
		want:  Hugepages{},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := fakeHost(t, tt.files)
			got, err := ReadHugepages(filepath.Join(dir, "sys"), filepath.Join(dir, "mounts"))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestReadHugepagesErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"bad count", map[string]string{hp2M + "nr_hugepages": "many\n", hp2M + "free_hugepages": "0\n", "mounts": ""}, `expected a number, got "many"`},
		{"missing free", map[string]string{hp2M + "nr_hugepages": "1\n", "mounts": ""}, "free_hugepages"},
		{"missing mounts", map[string]string{hp2M + "nr_hugepages": "1\n", hp2M + "free_hugepages": "0\n"}, "mounts"},
		{"hugepages not a directory", map[string]string{"sys/kernel/mm/hugepages": "", "mounts": ""}, "not a directory"},
		{"bad pagesize", map[string]string{"mounts": "x /h hugetlbfs rw,pagesize=xM 0 0\n"}, "pagesize=xM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := fakeHost(t, tt.files)
			_, err := ReadHugepages(filepath.Join(dir, "sys"), filepath.Join(dir, "mounts"))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestCheckHost(t *testing.T) {
	// base needs 60194488 bytes: 58 MiB, 29 pages of 2 MiB, 1 of 1 GiB.
	const mb2 = 2 << 20
	tests := []struct {
		name string
		doc  string
		h    Hugepages
		want []string // substrings; none means no error
	}{
		{"hugepages off", inEAL("hugepages = false"), Hugepages{}, nil},
		{"enough and mounted", base, Hugepages{PageSize: mb2, Total: 29, Free: 29, Mounted: true}, nil},
		{"enough, in-memory needs no mount", inEAL(`args = ["--in-memory"]`), Hugepages{PageSize: mb2, Total: 64, Free: 64}, nil},
		{"none reserved", base, Hugepages{PageSize: mb2, Mounted: true},
			[]string{"no hugepages are reserved", "26 MiB (13 pages of 2048 kB)", "echo 13 > /proc/sys/vm/nr_hugepages", "eal.hugepages = false"}},
		{"no hugepage support", inEAL(`args = ["--in-memory"]`), Hugepages{},
			[]string{"no hugepages are reserved", "echo 13 > /proc/sys/vm/nr_hugepages"}},
		{"short", base, Hugepages{PageSize: mb2, Total: 12, Free: 10, Mounted: true},
			[]string{"only 20 MiB (10 pages) are free", "short by 6 MiB (3 pages)", "echo 15 > /proc/sys/vm/nr_hugepages", "eal.hugepages = false"}},
		{"one page short", base, Hugepages{PageSize: mb2, Total: 12, Free: 12, Mounted: true},
			[]string{"short by 2 MiB (1 pages)", "echo 13 >"}},
		{"not mounted", base, Hugepages{PageSize: mb2, Total: 64, Free: 64},
			[]string{"no hugetlbfs is mounted for 2048 kB pages", "mount -t hugetlbfs nodev /dev/hugepages", `add "--in-memory" to eal.args`, "eal.hugepages = false"}},
		{"short and not mounted", base, Hugepages{PageSize: mb2, Total: 1, Free: 1},
			[]string{"short by", "; and no hugetlbfs is mounted"}},
		{"1G pages", base, Hugepages{PageSize: 1 << 30},
			[]string{"(1 pages of 1048576 kB)", "echo 1 > /sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages", "mount -t hugetlbfs -o pagesize=1G nodev"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, tt.doc)
			c.File = "conf.toml"
			err := c.CheckHost(tt.h)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Key != "eal.hugepages" || e.File != "conf.toml" {
				t.Fatalf("got %v, want an *Error for conf.toml eal.hugepages", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestSizes(t *testing.T) {
	tests := []struct {
		s    string
		n    uint64
		name string
	}{
		{"2M", 2 << 20, "2M"},
		{"1G", 1 << 30, "1G"},
		{"1024M", 1 << 30, "1G"},
		{"64K", 64 << 10, "64K"},
		{"32768", 32 << 10, "32K"},
	}
	for _, tt := range tests {
		n, err := parseSize(tt.s)
		if err != nil || n != tt.n {
			t.Errorf("parseSize(%q) = %d, %v; want %d", tt.s, n, err, tt.n)
		}
		if got := sizeName(n); got != tt.name {
			t.Errorf("sizeName(%d) = %q, want %q", n, got, tt.name)
		}
	}
}
