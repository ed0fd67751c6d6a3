package netlinkdp

// FailNDResponder makes the ND responder stop as a receive error would:
// it forgets its bridges and Watch hears of it.
func FailNDResponder(d *Dataplane) {
	d.nd.Close()
	d.ndStopped <- struct{}{}
}
