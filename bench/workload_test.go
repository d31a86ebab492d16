package bench

import (
	"flag"
	"strings"
	"testing"
)

func TestScaleFlags(t *testing.T) {
	parse := func(args ...string) (*Spec, error) {
		var s Spec
		fs := flag.NewFlagSet("bench", flag.ContinueOnError)
		s.Flags(fs)
		s.ScaleFlags(fs)
		if err := fs.Parse(append([]string{"-connect", "198.18.0.1"}, args...)); err != nil {
			return nil, err
		}
		return &s, s.Validate()
	}
	s, err := parse("-conns", "1000", "-sources", "198.18.0.64/26", "-active", "1", "-open-rate", "500", "-think", "50ms")
	if err != nil {
		t.Fatal(err)
	}
	if s.Sources.String() != "198.18.0.64/26" || !s.Holds() || s.ActivePer(1000) != 10 || s.ActivePer(10) != 1 {
		t.Errorf("parsed %+v: holds %v, active of 1000 %d, of 10 %d", s, s.Holds(), s.ActivePer(1000), s.ActivePer(10))
	}
	if s, _ := parse("-conns", "8"); s.Holds() || s.ActivePer(8) != 8 || s.Sources.IsValid() {
		t.Errorf("defaults: %+v holds %v", s, s.Holds())
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-active", "150"}, "-active"},
		{[]string{"-workload", "crr", "-active", "5"}, "-active: only rr and http"},
		{[]string{"-workload", "crr", "-think", "1ms"}, "-think: only rr and http"},
		{[]string{"-workload", "stream-up", "-reopen"}, "-reopen: only rr and http"},
		{[]string{"-think", "-1s"}, "-think"},
		{[]string{"-open-rate", "-1"}, "-open-rate"},
		{[]string{"-sources", "198.18.0.65/26"}, "-sources"},
		{[]string{"-sources", "nonsense"}, "-sources"},
	} {
		if _, err := parse(c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want an error about %s", c.args, err, c.want)
		}
	}
}
