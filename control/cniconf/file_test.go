package cniconf

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// writeFile ends with a write event for the final name (containerd 1.6
// reloads its CNI config on writes in the conf dir; see rewrite), and the
// file holds the whole conflist.
func TestWriteFileModifiesFinalName(t *testing.T) {
	dir := t.TempDir()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_MODIFY|unix.IN_MOVED_TO); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "10-vxbgp.conflist")
	data := conflist("pods")
	if err := writeFile(path, data); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("conflist %q, %v", got, err)
	}
	var events []string
	buf := make([]byte, 64<<10)
	n, err := unix.Read(fd, buf)
	if err != nil {
		t.Fatalf("no inotify event: %v", err)
	}
	modified := false
	for off := 0; off+unix.SizeofInotifyEvent <= n; {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
		name := string(bytes.TrimRight(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)], "\x00"))
		what := "moved_to"
		if ev.Mask&unix.IN_MODIFY != 0 {
			what = "modify"
			if name == filepath.Base(path) {
				modified = true
			}
		}
		events = append(events, what+" "+name)
		off += unix.SizeofInotifyEvent + int(ev.Len)
	}
	if !modified {
		t.Errorf("no write event for %s after the rename: %q", filepath.Base(path), events)
	}
}
