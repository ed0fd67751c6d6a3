// vxbgp patch (see PATCHES.md): say which NOTIFICATION refused a session
// on its way up.

package server

import (
	"github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// logOpeningNotification logs a NOTIFICATION received in OpenSent or
// OpenConfirm (the peer refused our OPEN: a wrong ASN, an unacceptable
// hold time) with the same message and fields as one received in
// Established. v3.37.0 dropped the session without a word.
func (fsm *fsm) logOpeningNotification(m *bgp.BGPMessage) {
	body, ok := m.Body.(*bgp.BGPNotification)
	if m.Header.Type != bgp.BGP_MSG_NOTIFICATION || !ok {
		return
	}
	fsm.lock.RLock()
	defer fsm.lock.RUnlock()
	fsm.logger.Warn("received notification",
		log.Fields{
			"Topic":   "Peer",
			"Key":     fsm.pConf.State.NeighborAddress,
			"State":   fsm.state.String(),
			"Code":    body.ErrorCode,
			"Subcode": body.ErrorSubcode,
			"Data":    body.Data})
}
