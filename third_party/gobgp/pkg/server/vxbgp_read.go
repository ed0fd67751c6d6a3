// vxbgp patch (see PATCHES.md): read a session's messages through one
// buffer, not two system calls a message.

package server

import (
	"bufio"
	"io"
)

// readBufSize is a session's receive buffer: two full-size (4096-byte)
// messages, or dozens of small UPDATEs, a system call.
const readBufSize = 8192

// reader is h.conn behind a buffer. The buffer belongs to the connection
// and lives in the fsm, not the handler: every state (OpenSent,
// OpenConfirm, Established) runs in a handler of its own
// (peer.startFSMHandler), and what one state read ahead (a KEEPALIVE right
// behind the OPEN) must be there for the next. A new connection gets a new
// buffer. The states read one after another (each waits for its reader
// goroutine before it returns, and the next handler starts after), so the
// buffer is never read from two goroutines at once.
func (h *fsmHandler) reader() io.Reader {
	f := h.fsm
	if f.rd == nil || f.rdConn != h.conn {
		f.rd, f.rdConn = bufio.NewReaderSize(h.conn, readBufSize), h.conn
	}
	return f.rd
}
