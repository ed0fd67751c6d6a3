package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protowire"
)

// criClient calls a containerd's CRI RuntimeService (runtime.v1) as the
// kubelet does, for the k8s part's RunPodSandbox row. It encodes the few
// messages it needs by hand (field numbers from k8s.io/cri-api
// pkg/apis/runtime/v1/api.proto) over the gRPC already in the module:
// k8s.io/cri-api at this module's k8s release needs a far newer gRPC than
// GoBGP is built with, and the agent's dependencies should not move for a
// bench.
type criClient struct{ conn *grpc.ClientConn }

const criService = "/runtime.v1.RuntimeService/"

func dialCRI(ctx context.Context, sock string) (*criClient, error) {
	conn, err := grpc.DialContext(ctx, "unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("dial CRI %s: %w", sock, err)
	}
	return &criClient{conn: conn}, nil
}

func (c *criClient) Close() error { return c.conn.Close() }

// rawCodec passes already encoded protobuf messages through gRPC.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

func (c *criClient) call(ctx context.Context, method string, req []byte) ([]byte, error) {
	var resp []byte
	if err := c.conn.Invoke(ctx, criService+method, &req, &resp, grpc.ForceCodec(rawCodec{})); err != nil {
		return nil, fmt.Errorf("CRI %s: %w", method, err)
	}
	return resp, nil
}

// sandbox is a pod sandbox as ListPodSandbox reports it.
type sandbox struct {
	ID, Name, Namespace string
	Ready               bool
}

// RunPodSandbox starts a sandbox with its own network namespace (the
// default NamespaceOption, POD) in cgroup parent cg and returns its ID;
// the containerd runs the CNI ADD before answering.
func (c *criClient) RunPodSandbox(ctx context.Context, name, uid, namespace, cg string) (string, error) {
	var md []byte
	md = protowire.AppendTag(md, 1, protowire.BytesType)
	md = protowire.AppendString(md, name)
	md = protowire.AppendTag(md, 2, protowire.BytesType)
	md = protowire.AppendString(md, uid)
	md = protowire.AppendTag(md, 3, protowire.BytesType)
	md = protowire.AppendString(md, namespace)
	var linux []byte // LinuxPodSandboxConfig
	linux = protowire.AppendTag(linux, 1, protowire.BytesType)
	linux = protowire.AppendString(linux, cg)
	var cfg []byte // PodSandboxConfig
	cfg = protowire.AppendTag(cfg, 1, protowire.BytesType)
	cfg = protowire.AppendBytes(cfg, md)
	cfg = protowire.AppendTag(cfg, 2, protowire.BytesType)
	cfg = protowire.AppendString(cfg, name)
	cfg = protowire.AppendTag(cfg, 8, protowire.BytesType)
	cfg = protowire.AppendBytes(cfg, linux)
	var req []byte // RunPodSandboxRequest
	req = protowire.AppendTag(req, 1, protowire.BytesType)
	req = protowire.AppendBytes(req, cfg)
	resp, err := c.call(ctx, "RunPodSandbox", req)
	if err != nil {
		return "", err
	}
	id := ""
	err = fields(resp, func(num protowire.Number, v []byte, _ uint64) { // RunPodSandboxResponse
		if num == 1 {
			id = string(v)
		}
	})
	if err == nil && id == "" {
		err = fmt.Errorf("CRI RunPodSandbox %s: no sandbox ID in the answer", name)
	}
	return id, err
}

// StopPodSandbox (CNI DEL with the netns) and RemovePodSandbox (a second
// DEL, without netns) take the same request: the sandbox ID.
func (c *criClient) StopPodSandbox(ctx context.Context, id string) error {
	_, err := c.call(ctx, "StopPodSandbox", idRequest(id))
	return err
}

func (c *criClient) RemovePodSandbox(ctx context.Context, id string) error {
	_, err := c.call(ctx, "RemovePodSandbox", idRequest(id))
	return err
}

func idRequest(id string) []byte {
	b := protowire.AppendTag(nil, 1, protowire.BytesType)
	return protowire.AppendString(b, id)
}

// ListPodSandbox lists every sandbox of the runtime.
func (c *criClient) ListPodSandbox(ctx context.Context) ([]sandbox, error) {
	resp, err := c.call(ctx, "ListPodSandbox", nil)
	if err != nil {
		return nil, err
	}
	var out []sandbox
	var inner error
	err = fields(resp, func(num protowire.Number, item []byte, _ uint64) { // ListPodSandboxResponse.items
		if num != 1 {
			return
		}
		s := sandbox{Ready: true}                                             // state absent: SANDBOX_READY (0)
		inner = fields(item, func(num protowire.Number, v []byte, n uint64) { // PodSandbox
			switch num {
			case 1:
				s.ID = string(v)
			case 2:
				_ = fields(v, func(num protowire.Number, v []byte, _ uint64) { // PodSandboxMetadata
					switch num {
					case 1:
						s.Name = string(v)
					case 3:
						s.Namespace = string(v)
					}
				})
			case 3:
				s.Ready = n == 0
			}
		})
		out = append(out, s)
	})
	if err == nil {
		err = inner
	}
	return out, err
}

// PodSandboxIP is the sandbox's pod IP (PodSandboxStatus.network.ip).
func (c *criClient) PodSandboxIP(ctx context.Context, id string) (string, error) {
	resp, err := c.call(ctx, "PodSandboxStatus", idRequest(id))
	if err != nil {
		return "", err
	}
	ip := ""
	err = fields(resp, func(num protowire.Number, st []byte, _ uint64) { // PodSandboxStatusResponse.status
		if num != 1 {
			return
		}
		_ = fields(st, func(num protowire.Number, nw []byte, _ uint64) { // PodSandboxStatus.network
			if num != 5 {
				return
			}
			_ = fields(nw, func(num protowire.Number, v []byte, _ uint64) { // PodSandboxNetworkStatus.ip
				if num == 1 {
					ip = string(v)
				}
			})
		})
	})
	return ip, err
}

// CNINetworks are the names of the CNI networks the runtime has loaded
// (Status verbose: containerd's "cniconfig"), loopback included: the
// barrier that a conflist switch took effect.
func (c *criClient) CNINetworks(ctx context.Context) ([]string, error) {
	req := protowire.AppendTag(nil, 1, protowire.VarintType)
	req = protowire.AppendVarint(req, 1) // StatusRequest.verbose
	resp, err := c.call(ctx, "Status", req)
	if err != nil {
		return nil, err
	}
	var cniconfig string
	err = fields(resp, func(num protowire.Number, entry []byte, _ uint64) { // StatusResponse.info (map)
		if num != 2 {
			return
		}
		var k, v string
		_ = fields(entry, func(num protowire.Number, b []byte, _ uint64) {
			switch num {
			case 1:
				k = string(b)
			case 2:
				v = string(b)
			}
		})
		if k == "cniconfig" {
			cniconfig = v
		}
	})
	if err != nil {
		return nil, err
	}
	var cfg struct {
		Networks []struct{ Config struct{ Name string } }
	}
	if err := json.Unmarshal([]byte(cniconfig), &cfg); err != nil {
		return nil, fmt.Errorf("CRI Status: cniconfig %q: %w", cniconfig, err)
	}
	var names []string
	for _, n := range cfg.Networks {
		names = append(names, n.Config.Name)
	}
	return names, nil
}

// fields calls f for each field of a protobuf message: length-delimited
// ones with their bytes, varints with their value.
func fields(b []byte, f func(num protowire.Number, v []byte, n uint64)) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("CRI answer: %w", protowire.ParseError(n))
		}
		b = b[n:]
		switch typ {
		case protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return fmt.Errorf("CRI answer: %w", protowire.ParseError(m))
			}
			f(num, v, 0)
			b = b[m:]
		case protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return fmt.Errorf("CRI answer: %w", protowire.ParseError(m))
			}
			f(num, nil, v)
			b = b[m:]
		default:
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return fmt.Errorf("CRI answer: %w", protowire.ParseError(m))
			}
			b = b[m:]
		}
	}
	return nil
}

// criTimeout bounds one CRI call: a sandbox whose CNI ADD hangs fails its
// sample instead of the run.
const criTimeout = time.Minute
