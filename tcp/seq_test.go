package tcp

import "testing"

func TestSeqWrap(t *testing.T) {
	cases := []struct {
		a, b Seq
		less bool
	}{
		{1, 2, true},
		{2, 1, false},
		{0xffffffff, 0, true},
		{0xfffffff0, 0x10, true},
		{0x10, 0xfffffff0, false},
		{5, 5, false},
		{0, 0x7fffffff, true},
	}
	for _, c := range cases {
		if got := c.a.LessThan(c.b); got != c.less {
			t.Errorf("%#x < %#x = %v, want %v", c.a, c.b, got, c.less)
		}
		if c.a != c.b && c.b.GreaterThan(c.a) != c.less {
			t.Errorf("%#x > %#x disagrees with LessThan", c.b, c.a)
		}
	}
	if !Seq(0xfffffffe).InRange(0xfffffff0, 4) || Seq(4).InRange(0xfffffff0, 4) {
		t.Error("InRange across the wrap")
	}
	if !Seq(3).InWindow(0xfffffffe, 10) || Seq(8).InWindow(0xfffffffe, 10) {
		t.Error("InWindow across the wrap")
	}
	if Seq(2).Sub(0xfffffffe) != 4 || Seq(0xfffffffe).Add(4) != 2 {
		t.Error("Add/Sub across the wrap")
	}
	if MaxSeq(0xffffffff, 1) != 1 || MinSeq(0xffffffff, 1) != 0xffffffff {
		t.Error("MaxSeq/MinSeq across the wrap")
	}
}
