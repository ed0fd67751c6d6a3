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
	conf, n, err := confAndNetwork(args.StdinData)
	if err != nil {
		return toCNIError(err)
	}
	d, closeDeps, err := newDeps(conf)
	if err != nil {
		return toCNIError(err)
	}
	defer closeDeps()
	if conf.Chained {
		if err := AddChained(context.Background(), d, attachment(args, conf), n, conf.PrevResult); err != nil {
			return toCNIError(err)
		}
		// The previous plugin's result, as it came: the chain's result.
		return types.PrintResult(conf.PrevResult, conf.CNIVersion)
	}
	res, err := Add(context.Background(), d, attachment(args, conf), n, conf.MTU)
	if err != nil {
		return toCNIError(err)
	}
	res.DNS = conf.DNS
	return types.PrintResult(res, conf.CNIVersion)
}

// cmdDel needs only the config's stateDir and socket, not networks.json:
// a pod must be detachable even after its network was removed.
func cmdDel(args *skel.CmdArgs) error {
	conf, err := ParseConf(args.StdinData)
	if err != nil {
		return toCNIError(err)
	}
	d, closeDeps, err := newDeps(conf)
	if err != nil {
		return toCNIError(err)
	}
	defer closeDeps()
	return toCNIError(Del(context.Background(), d, attachment(args, conf)))
}

func cmdCheck(args *skel.CmdArgs) error {
	conf, n, err := confAndNetwork(args.StdinData)
	if err != nil {
		return toCNIError(err)
	}
	var prev *types100.Result
	if conf.PrevResult != nil {
		if prev, err = types100.NewResultFromResult(conf.PrevResult); err != nil {
			return toCNIError(configError("prevResult", err))
		}
	}
	d, closeDeps, err := newDeps(conf)
	if err != nil {
		return toCNIError(err)
	}
	defer closeDeps()
	if conf.Chained {
		return toCNIError(CheckChained(d, attachment(args, conf), n, prev))
	}
	return toCNIError(Check(d, attachment(args, conf), n, prev))
}

// cmdStatus does not use confAndNetwork: a missing networks.json means
// the agent has not run here yet, which is "not ready" (50), not a bad
// config.
func cmdStatus(args *skel.CmdArgs) error {
	conf, err := ParseConf(args.StdinData)
	if err != nil {
		return toCNIError(err)
	}
	host, err := netlink.NewHandle()
	if err != nil {
		return toCNIError(fmt.Errorf("netlink in the host netns: %w", err))
	}
	defer host.Close()
	return toCNIError(Status(host, conf))
}

func cmdGC(args *skel.CmdArgs) error {
	conf, err := ParseConf(args.StdinData)
	if err != nil {
		return toCNIError(err)
	}
	d, closeDeps, err := newDeps(conf)
	if err != nil {
		return toCNIError(err)
	}
	defer closeDeps()
	return toCNIError(GC(context.Background(), d, conf.Name, conf.ValidAttachments))
}

func confAndNetwork(stdin []byte) (*NetConf, ipam.NetworkInfo, error) {
	conf, err := ParseConf(stdin)
	if err != nil {
		return nil, ipam.NetworkInfo{}, err
	}
	n, err := conf.LookupNetwork()
	return conf, n, err
}

func attachment(args *skel.CmdArgs, conf *NetConf) Attachment {
	return Attachment{ContainerID: args.ContainerID, IfName: args.IfName, Netns: args.Netns, CNINetwork: conf.Name}
}

// newDeps wires the real dependencies: the store in stateDir, the agent's
// socket, and netlink in the netns the plugin runs in, which the runtime
// guarantees is the host's. Logs go to stderr, which runtimes keep.
func newDeps(conf *NetConf) (Deps, func(), error) {
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
		Log:   slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("plugin", "vxbgp-cni"),
	}
	return d, host.Close, nil
}
