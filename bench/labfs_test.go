package bench

import (
	"strings"
	"testing"
)

func TestMountSourceIn(t *testing.T) {
	const info = `22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24683784k
40 27 7:0 / /tmp/vxbgp-fs-42 rw,noatime - ext4 /dev/loop0 rw
41 27 0:40 / /tmp/vxbgp-fs-4 rw - tmpfs other rw
`
	for _, c := range []struct{ path, want string }{
		{"/", "/dev/vda"},
		{"/tmp/vxbgp-lab/vx12ab", "/dev/vda"},
		{"/tmp/vxbgp-fs-42", "/dev/loop0"},
		{"/tmp/vxbgp-fs-42/vx12ab/h1", "/dev/loop0"},
		{"/tmp/vxbgp-fs-4x", "/dev/vda"}, // a prefix of the name is not a parent
		{"/dev/shm/x", "tmpfs"},
	} {
		got, err := mountSourceIn(strings.NewReader(info), c.path)
		if err != nil || got != c.want {
			t.Errorf("mountSourceIn(%s) = %q, %v; want %q", c.path, got, err, c.want)
		}
	}
	if got, err := mountSourceIn(strings.NewReader(""), "/x"); err == nil {
		t.Errorf("empty mountinfo: got %q, want an error", got)
	}
}

func TestNoJournalTmpfs(t *testing.T) {
	bad, _, err := noJournal("/dev/shm")
	if err != nil {
		t.Fatal(err)
	}
	if bad {
		t.Error("/dev/shm (tmpfs) reported as an ext4 without a journal")
	}
}
