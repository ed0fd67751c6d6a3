package overlay

import (
	"net/netip"
	"testing"
)

// TestWantHeldDuringFullPass: while a full pass reads want, an Update
// leaves want's maps as the pass saw them, Desired already shows it, and
// releasing the hold applies it; a Set meanwhile drops what was held.
func TestWantHeldDuringFullPass(t *testing.T) {
	r := NewReconciler(nil, ReconcilerOptions{})
	f1 := FDB{VNI: 100, MAC: MAC{2, 0, 0, 0, 0, 1}, VTEP: netip.MustParseAddr("192.0.2.10")}
	f2 := FDB{VNI: 100, MAC: MAC{2, 0, 0, 0, 0, 2}, VTEP: netip.MustParseAddr("192.0.2.10")}
	st := NewState()
	st.FDB[f1.Key()] = f1
	r.Set(st)
	r.wantShared = true // a full pass took want
	var d Delta
	d.SetFDB(f2)
	d.DelFDB(f1.Key())
	r.Update(d)
	if _, ok := r.want.FDB[f1.Key()]; !ok || len(r.want.FDB) != 1 {
		t.Fatalf("want changed under the pass: %v", r.want.FDB)
	}
	if got := r.Desired().FDB; len(got) != 1 || got[f2.Key()] != f2 {
		t.Fatalf("Desired during the pass: %v, want only %v", got, f2)
	}
	r.releaseWant()
	if len(r.want.FDB) != 1 || r.want.FDB[f2.Key()] != f2 || r.pending != nil || r.wantShared {
		t.Fatalf("after release: want %v, %d pending, shared %v", r.want.FDB, len(r.pending), r.wantShared)
	}
	r.wantShared = true
	r.Update(d)
	r.Set(NewState())
	r.releaseWant()
	if len(r.want.FDB) != 0 {
		t.Fatalf("an Update held before a Set applied after it: %v", r.want.FDB)
	}
}
