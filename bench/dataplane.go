package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// overlayDataplane: iperf3 between a pod on h1 and one on h2, and between
// two namespaces joined by a hand-built bridge + VXLAN with static entries.
func overlayDataplane(ctx context.Context, l *lab.Lab, dur time.Duration, rounds int) (Row, []string) {
	row := Row{What: WhatOverlay, Unit: "Gbit/s", RefName: refHandVXLAN}
	notes := []string{NoteOffloads + " (h1): " + offloads(ctx, l.Host(1).NS, lab.VXLANDev)}
	err := func() error {
		p1, err := l.Pod(ctx, l.Host(1), "tp1")
		if err != nil {
			return err
		}
		p2, err := l.Pod(ctx, l.Host(2), "tp2")
		if err != nil {
			return err
		}
		if err := waitPair(ctx, p1, p2); err != nil {
			return err
		}
		src, dst, dstIP, err := handVXLAN(ctx, l)
		if err != nil {
			return fmt.Errorf("ref: %w", err)
		}
		notes = append(notes, NoteOffloads+" (hand-built): "+offloads(ctx, l.ID+"-m1", "vxlan100"))
		row.Ours, row.Ref, err = iperfRounds(ctx, rounds, dur,
			func() (float64, error) { return iperf(ctx, p1.NS, p2.NS, p2.IP.String(), dur) },
			func() (float64, error) { return iperf(ctx, src, dst, dstIP, dur) })
		return err
	}()
	if err != nil {
		row.Err = err.Error()
	}
	if row.Ref > 0 {
		row.Ratio = row.Ours / row.Ref
	}
	row.N = rounds
	row.Note = fmt.Sprintf("median of %d alternating %v runs each, pod MTU 1450 both", rounds, dur)
	return row, notes
}

// iperfRounds alternates ours and ref rounds times (single runs vary by
// ±5 % here, and alternating spreads the machine's drift over both) and
// returns the median of each.
func iperfRounds(ctx context.Context, rounds int, dur time.Duration, ours, ref func() (float64, error)) (float64, float64, error) {
	var o, r []float64
	for range rounds {
		v, err := ours()
		if err != nil {
			return 0, 0, err
		}
		o = append(o, v)
		if v, err = ref(); err != nil {
			return 0, 0, fmt.Errorf("ref: %w", err)
		}
		r = append(r, v)
	}
	return medianF(o), medianF(r), nil
}

func medianF(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}

// waitPair waits until each pod's host has the other pod's remote FDB
// entry (the lab is not a full mesh, so WaitConverged does not apply).
func waitPair(ctx context.Context, a, b *lab.Pod) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, x := range [][2]*lab.Pod{{a, b}, {b, a}} {
		at, remote := x[0].Host, x[1]
		err := lab.Eventually(ctx, at.Name+" FDB entry of "+remote.Name, 20*time.Millisecond, func(ctx context.Context) (bool, error) {
			fdb, err := lab.ReadFDB(ctx, at.NS, lab.VXLANDev)
			if err != nil {
				return false, err
			}
			_, ok := lab.RemoteEntry(fdb, remote.MAC, remote.Host.Addr)
			return ok, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// handVXLAN builds the overlay path of shared/notes/lab/dataplane-proto.sh
// by hand in namespaces of the run: m-ul (underlay bridge), m1/m2 (hosts
// with br100 + vxlan100, static FDB and neighbour entries), mp1/mp2 (pods).
func handVXLAN(ctx context.Context, l *lab.Lab) (src, dst, dstIP string, err error) {
	ns := map[string]string{}
	for _, s := range []string{"mul", "m1", "m2", "mp1", "mp2"} {
		if ns[s], err = l.AddNetns(ctx, s); err != nil {
			return
		}
	}
	if err = ipBatch(ctx, ns["mul"], []string{"link add ul type bridge", "link set ul up"}); err != nil {
		return
	}
	const gw = "02:00:0a:f4:00:01"
	for i := 1; i <= 2; i++ {
		h, p := ns[fmt.Sprintf("m%d", i)], ns[fmt.Sprintf("mp%d", i)]
		if err = ipBatch(ctx, ns["mul"], []string{
			fmt.Sprintf("link add m%d type veth peer name eth0 netns %s", i, h),
			fmt.Sprintf("link set m%d master ul up", i),
		}); err != nil {
			return
		}
		if err = ipBatch(ctx, h, []string{
			fmt.Sprintf("addr add 10.251.0.%d/24 dev eth0", i), "link set eth0 up",
			"link add br100 type bridge", "link set br100 address " + gw,
			"addr add 10.244.0.1/16 dev br100",
			fmt.Sprintf("link add vxlan100 type vxlan id 100 local 10.251.0.%d dstport 4789 nolearning dev eth0", i),
			"link set vxlan100 master br100",
			"link set vxlan100 mtu 1450 up", "link set br100 up",
			fmt.Sprintf("link add vp%d type veth peer name eth0 netns %s", i, p),
			fmt.Sprintf("link set vp%d mtu 1450 master br100 up", i),
		}); err != nil {
			return
		}
		if err = ipBatch(ctx, p, []string{
			fmt.Sprintf("link set eth0 address 02:00:00:00:0%d:01 mtu 1450", i),
			fmt.Sprintf("addr add 10.244.%d.2/16 dev eth0", i), "link set eth0 up",
			"route add default via 10.244.0.1",
		}); err != nil {
			return
		}
		o := 3 - i
		if err = bridgeBatch(ctx, h, []string{
			"link set dev vxlan100 learning off neigh_suppress on",
			fmt.Sprintf("fdb append 00:00:00:00:00:00 dev vxlan100 dst 10.251.0.%d self permanent", o),
			fmt.Sprintf("fdb replace 02:00:00:00:0%d:01 dev vxlan100 dst 10.251.0.%d self extern_learn", o, o),
			fmt.Sprintf("fdb replace 02:00:00:00:0%d:01 dev vxlan100 master extern_learn dynamic", o),
		}); err != nil {
			return
		}
		if err = ipBatch(ctx, h, []string{
			fmt.Sprintf("neigh replace 10.244.%d.2 lladdr 02:00:00:00:0%d:01 dev br100 nud noarp extern_learn", o, o),
		}); err != nil {
			return
		}
		if err = ipBatch(ctx, p, []string{
			fmt.Sprintf("neigh replace 10.244.%d.2 lladdr 02:00:00:00:0%d:01 dev eth0", o, o),
		}); err != nil {
			return
		}
	}
	return ns["mp1"], ns["mp2"], "10.244.2.2", nil
}

// offloads is `ethtool -k dev` (features that are on), or the GSO/GRO/TSO
// sizes from `ip -d link` without ethtool.
func offloads(ctx context.Context, ns, dev string) string {
	if _, err := exec.LookPath("ethtool"); err == nil {
		out, err := lab.Exec(ctx, ns, "ethtool", "-k", dev)
		if err == nil {
			var on []string
			for _, line := range strings.Split(out, "\n") {
				if k, v, ok := strings.Cut(strings.TrimSpace(line), ": "); ok && strings.HasPrefix(v, "on") {
					on = append(on, k)
				}
			}
			return "ethtool -k on: " + strings.Join(on, ",")
		}
	}
	out, err := lab.IP(ctx, ns, "-d", "link", "show", "dev", dev)
	if err != nil {
		return "n/a: " + err.Error()
	}
	f := strings.Fields(out)
	var kv []string
	for i := 0; i+1 < len(f); i++ {
		if strings.HasPrefix(f[i], "gso_") || strings.HasPrefix(f[i], "gro_") || strings.HasPrefix(f[i], "tso_") || f[i] == "udpcsum" || f[i] == "noudpcsum" || f[i] == "mtu" {
			if f[i] == "udpcsum" || f[i] == "noudpcsum" {
				kv = append(kv, f[i])
				continue
			}
			kv = append(kv, f[i]+"="+f[i+1])
		}
	}
	return "(no ethtool; ip -d link) " + strings.Join(kv, " ")
}

// iperf runs an iperf3 server in dstNS (one test) and a client in srcNS
// and returns the receiver's throughput in Gbit/s.
func iperf(ctx context.Context, srcNS, dstNS, dstIP string, dur time.Duration) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, dur+30*time.Second)
	defer cancel()
	srv := exec.CommandContext(ctx, "ip", "netns", "exec", dstNS, "iperf3", "-s", "-1", "-p", "5201")
	srv.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	srv.WaitDelay = 2 * time.Second
	if err := srv.Start(); err != nil {
		return 0, err
	}
	defer func() {
		_ = srv.Process.Kill()
		_ = srv.Wait()
	}()
	// Wait until the server listens, then run the client.
	err := lab.Eventually(ctx, "iperf3 server in "+dstNS, 20*time.Millisecond, func(ctx context.Context) (bool, error) {
		out, err := lab.Exec(ctx, dstNS, "ss", "-Hltn", "sport = :5201")
		return err == nil && strings.Contains(out, "5201"), err
	})
	if err != nil {
		return 0, err
	}
	var out string
	for try := 0; try < 20; try++ {
		out, err = lab.Exec(ctx, srcNS, "iperf3", "-c", dstIP, "-p", "5201", "-t", fmt.Sprint(int(dur.Seconds())), "-J")
		if err == nil || !strings.Contains(out+err.Error(), "refused") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var res struct {
		End struct {
			Recv struct {
				BPS float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
		Error string `json:"error"`
	}
	if jerr := json.Unmarshal([]byte(out), &res); jerr != nil {
		return 0, errors.Join(err, jerr)
	}
	if res.Error != "" {
		return 0, errors.New("iperf3: " + res.Error)
	}
	if err != nil {
		return 0, err
	}
	return res.End.Recv.BPS / 1e9, nil
}
