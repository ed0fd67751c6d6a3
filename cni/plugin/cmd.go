package plugin

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/vishvananda/netlink"

	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/ipam"
)

// Versions are the CNI spec versions the plugin speaks.
func Versions() version.PluginInfo {
	return version.PluginSupports("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
}

// Funcs are the verbs for skel.PluginMainFuncs. Each parses its input,
// wires the real dependencies and calls the verb's function.
func Funcs() skel.CNIFuncs {
	return skel.CNIFuncs{Add: cmdAdd, Del: cmdDel, Check: cmdCheck, Status: cmdStatus, GC: cmdGC}
}

func cmdAdd(args *skel.CmdArgs) error {
	return runVerb(args, "ADD", true, func(conf *NetConf, n ipam.NetworkInfo, d Deps) error {
		if conf.Chained {
			if err := AddChained(context.Background(), d, attachment(args, conf), n, conf.PrevResult); err != nil {
				return err
			}
			// The previous plugin's result, as it came: the chain's result.
			return types.PrintResult(conf.PrevResult, conf.CNIVersion)
		}
		res, err := Add(context.Background(), d, attachment(args, conf), n, conf.MTU)
		if err != nil {
			return err
		}
		d.log().Info("attached", "network", n.Name, "ip", loggedIPs(res))
		res.DNS = conf.DNS
		return types.PrintResult(res, conf.CNIVersion)
	})
}

// cmdDel needs only the config's stateDir and socket, not networks.json:
// a pod must be detachable even after its network was removed.
func cmdDel(args *skel.CmdArgs) error {
	return runVerb(args, "DEL", false, func(conf *NetConf, _ ipam.NetworkInfo, d Deps) error {
		return Del(context.Background(), d, attachment(args, conf))
	})
}

func cmdCheck(args *skel.CmdArgs) error {
	return runVerb(args, "CHECK", true, func(conf *NetConf, n ipam.NetworkInfo, d Deps) error {
		var prev *types100.Result
		if conf.PrevResult != nil {
			var err error
			if prev, err = types100.NewResultFromResult(conf.PrevResult); err != nil {
				return configError("prevResult", err)
			}
		}
		if conf.Chained {
			return CheckChained(d, attachment(args, conf), n, prev)
		}
		return Check(d, attachment(args, conf), n, prev)
	})
}

// cmdStatus does not use runVerb: a missing networks.json means
// the agent has not run here yet, which is "not ready" (50), not a bad
// config.
func cmdStatus(args *skel.CmdArgs) error {
	log := openLog(os.Stderr, "STATUS", args)
	err := status(args)
	log.done(err)
	return toCNIError(err)
}

func status(args *skel.CmdArgs) error {
	conf, err := ParseConf(args.StdinData)
	if err != nil {
		return err
	}
	host, err := netlink.NewHandle()
	if err != nil {
		return fmt.Errorf("netlink in the host netns: %w", err)
	}
	defer host.Close()
	ctx, cancel := context.WithTimeout(context.Background(), DefaultAgentTimeout)
	defer cancel()
	return Status(ctx, host, conf, localapi.NewClient(conf.Socket))
}

func cmdGC(args *skel.CmdArgs) error {
	return runVerb(args, "GC", false, func(conf *NetConf, _ ipam.NetworkInfo, d Deps) error {
		return GC(context.Background(), d, conf.Name, conf.ValidAttachments)
	})
}

// runVerb runs the verb called name (wire) with its log (openLog), which
// records the outcome whatever it is; errors become CNI errors.
func runVerb(args *skel.CmdArgs, name string, lookup bool, verb func(*NetConf, ipam.NetworkInfo, Deps) error) error {
	log := openLog(os.Stderr, name, args)
	err := wire(args, log.Logger, lookup, verb)
	log.done(err)
	return toCNIError(err)
}

// wire parses the config, looks up its network in networks.json when
// lookup is set, wires the dependencies and runs verb with them. The
// config is parsed and the network looked up before anything is opened,
// so that a bad config leaves nothing behind (no ipam directory in a
// wrong stateDir).
func wire(args *skel.CmdArgs, log *slog.Logger, lookup bool, verb func(*NetConf, ipam.NetworkInfo, Deps) error) error {
	conf, err := ParseConf(args.StdinData)
	if err != nil {
		return err
	}
	var n ipam.NetworkInfo
	if lookup {
		if n, err = conf.LookupNetwork(); err != nil {
			return err
		}
	}
	d, closeDeps, err := newDeps(conf, log)
	if err != nil {
		return err
	}
	defer closeDeps()
	return verb(conf, n, d)
}

func attachment(args *skel.CmdArgs, conf *NetConf) Attachment {
	return Attachment{ContainerID: args.ContainerID, IfName: args.IfName, Netns: args.Netns, CNINetwork: conf.Name}
}

// newDeps wires the real dependencies: the store in stateDir, the agent's
// socket, and netlink in the netns the plugin runs in, which the runtime
// guarantees is the host's; log is the verb's (openLog).
func newDeps(conf *NetConf, log *slog.Logger) (Deps, func(), error) {
	store, err := ipam.Open(conf.StateDir)
	if err != nil {
		return Deps{}, nil, err
	}
	host, err := netlink.NewHandle()
	if err != nil {
		return Deps{}, nil, fmt.Errorf("netlink in the host netns: %w", err)
	}
	d := Deps{
		Store: store,
		Agent: localapi.NewClient(conf.Socket),
		Host:  host,
		Log:   log,
	}
	return d, host.Close, nil
}

// loggedIPs lists the result's addresses, for the log.
func loggedIPs(res *types100.Result) []string {
	out := make([]string, 0, len(res.IPs))
	for _, ip := range res.IPs {
		out = append(out, ip.Address.String())
	}
	return out
}
