package netlinkdp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vxbgp/vxbgp/overlay"
)

// announce tells the pods on a bridge that ip is now at the bridge's MAC
// (the anycast gateway MAC), with one gratuitous ARP request per pod port:
// sender MAC the bridge's, sender IP = target IP = ip, to the broadcast
// address.
//
// Why: a pod that learnt a remote pod's real MAC while the L2 path (the
// VXLAN device) existed keeps sending to that MAC after the path is gone,
// until its entry ages out (tens of seconds). Linux overrides an existing
// neighbour entry from a gratuitous ARP (arp_process: is_garp), so the pod
// switches to the gateway at once, and the host routes its traffic. Only
// existing entries change: a pod that never talked to ip learns nothing.
//
// The frame goes out of each port of the bridge except the agent's own
// (the VXLAN device), not into the bridge: flooded by the bridge, it would
// also cross the tunnel and point other hosts' pods at their gateway for a
// pod their host still bridges.
//
// It is best effort: a failure is logged, never returned, because the
// entry it follows is deleted all the same, and the pods' entries age out
// eventually.
//
//	arping -U -c 1 -s GWMAC IP  (once per pod port)
func (d *Dataplane) announce(ref linkRef, ips ...netip.Addr) {
	ips = slices.DeleteFunc(slices.Clone(ips), func(ip netip.Addr) bool { return !ip.Is4() })
	if len(ips) == 0 || ref.bridge == 0 || ref.mac.IsZero() {
		return
	}
	if err := d.sendGARP(ref, ips); err != nil {
		d.log.Warn("gratuitous arp failed", "dev", ref.bridgeName, "err", err)
		return
	}
	d.log.Debug("sent gratuitous arp", "dev", ref.bridgeName, "ips", len(ips), "mac", ref.mac)
}

func (d *Dataplane) sendGARP(ref linkRef, ips []netip.Addr) error {
	links, err := dump("links", d.h.LinkList)
	if err != nil {
		return err
	}
	fd, err := d.packetSocket()
	if err != nil {
		return err
	}
	var errs []error
	for _, l := range links {
		a := l.Attrs()
		if a.MasterIndex != ref.bridge || owned(l) {
			continue
		}
		to := &unix.SockaddrLinklayer{
			Protocol: htons(unix.ETH_P_ARP),
			Ifindex:  a.Index,
			Halen:    6,
			Addr:     [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		}
		for _, ip := range ips {
			err := unix.Sendto(fd, garpFrame(ref.mac, ip), 0, to)
			if errors.Is(err, unix.ENETDOWN) {
				break // a port that is down has no pod to tell
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("send gratuitous arp %s dev %s: %w", ip, a.Name, err))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// packetSocket returns the Dataplane's raw packet socket, created in its
// namespace on first use. Protocol 0 makes it send-only: it receives
// nothing, so nothing queues up on it.
//
//	socket(AF_PACKET, SOCK_RAW, 0)
func (d *Dataplane) packetSocket() (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.packetOpen {
		return d.packet, nil
	}
	err := d.inNS(func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open packet socket: %w", err)
		}
		d.packet, d.packetOpen = fd, true
		return nil
	})
	return d.packet, err
}

// garpFrame builds the Ethernet frame of a gratuitous ARP request from mac
// for ip, padded to the 60-byte minimum.
func garpFrame(mac overlay.MAC, ip netip.Addr) []byte {
	f := make([]byte, 60)
	copy(f[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) // destination: broadcast
	copy(f[6:12], mac[:])                                    // source
	binary.BigEndian.PutUint16(f[12:14], unix.ETH_P_ARP)
	arp := f[14:]
	binary.BigEndian.PutUint16(arp[0:2], 1)             // hardware: Ethernet
	binary.BigEndian.PutUint16(arp[2:4], unix.ETH_P_IP) // protocol: IPv4
	arp[4], arp[5] = 6, 4                               // address lengths
	binary.BigEndian.PutUint16(arp[6:8], 1)             // op: request
	copy(arp[8:14], mac[:])                             // sender MAC
	ip4 := ip.As4()
	copy(arp[14:18], ip4[:]) // sender IP
	// target MAC (18:24) stays zero, as in every gratuitous request
	copy(arp[24:28], ip4[:]) // target IP
	return f
}

// htons returns v in network byte order, as sockaddr_ll's protocol wants it.
func htons(v uint16) uint16 { return binary.NativeEndian.Uint16(binary.BigEndian.AppendUint16(nil, v)) }

// linkMAC returns a link's MAC as an overlay.MAC (zero if it has none).
func linkMAC(l netlink.Link) overlay.MAC {
	if hw := l.Attrs().HardwareAddr; len(hw) == 6 {
		return overlay.MAC(hw)
	}
	return overlay.MAC{}
}
