package caps

import (
	"slices"
	"testing"
)

func TestContainer(t *testing.T) {
	for _, tc := range []struct {
		add, drop []string
		want      []string
	}{
		{nil, nil, ContainerdDefault},
		{[]string{"NET_ADMIN"}, []string{"MKNOD", "CHOWN"}, []string{"DAC_OVERRIDE", "FSETID", "FOWNER", "NET_RAW", "SETGID", "SETUID",
			"SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE", "NET_ADMIN"}},
		{[]string{"NET_ADMIN", "NET_RAW"}, []string{"ALL"}, []string{"NET_ADMIN", "NET_RAW"}},
		{[]string{"ALL"}, []string{"SYS_ADMIN"}, slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == "SYS_ADMIN" })},
	} {
		got, err := Container(tc.add, tc.drop)
		if err != nil {
			t.Fatal(err)
		}
		want, err := Parse(tc.want)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("add %v drop %v: got %v, want %v", tc.add, tc.drop, got.Names(), want.Names())
		}
	}
}

func TestParse(t *testing.T) {
	s, err := Parse([]string{"CAP_NET_ADMIN", "net_raw", "NET_BIND_SERVICE"})
	if err != nil {
		t.Fatal(err)
	}
	// CAP_NET_BIND_SERVICE 10, CAP_NET_ADMIN 12, CAP_NET_RAW 13
	if got, want := s.String(), "0000000000003400"; got != want {
		t.Errorf("mask %s, want %s", got, want)
	}
	if _, err := Parse([]string{"NET_WIZARD"}); err == nil {
		t.Error("unknown capability accepted")
	}
	if got := len(names); got != 41 {
		t.Errorf("%d names, want 41 (CAP_LAST_CAP 40)", got)
	}
}
