package config

import (
	"net/netip"
	"reflect"
	"testing"
)

// dual makes valid()'s networks dual-stack.
func dual(c *Config) {
	c.Networks[0].Subnet6, c.Networks[0].Gateway6, c.Networks[0].Block6 = "fd00:10:244::/48", "fd00:10:244::1", "fd00:10:244:1::/64"
	c.Networks[1].Subnet6, c.Networks[1].Gateway6, c.Networks[1].Block6 = "fd00:96::/48", "fd00:96::1", "fd00:96:0:1::/64"
}

func TestValidateDualStackOK(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(c *Config)
	}{
		{"both networks", dual},
		{"one network", func(c *Config) {
			dual(c)
			c.Networks[1].Subnet6, c.Networks[1].Gateway6, c.Networks[1].Block6 = "", "", ""
		}},
		{"gateway inside the block", func(c *Config) { dual(c); c.Networks[0].Block6 = "fd00:10:244::/64" }},
		{"block is the whole subnet", func(c *Config) { dual(c); c.Networks[0].Block6 = "fd00:10:244::/48" }},
		{"routed mode", func(c *Config) { dual(c); c.Mode = ModeRouted }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.edit(c)
			if err := c.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestValidateDualStack(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(c *Config)
		want []string
	}{
		{"routed mode checks subnet6 like overlay", func(c *Config) { c.Mode = ModeRouted; c.Networks[0].Subnet6 = "fd00:10:244::/48" }, []string{
			"networks[0].gateway6: must be set",
			"networks[0].block6: must be set (subnet6, gateway6 and block6 go together)",
		}},
		{"only subnet6", func(c *Config) { c.Networks[0].Subnet6 = "fd00:10:244::/48" }, []string{
			"networks[0].gateway6: must be set",
			"networks[0].block6: must be set (subnet6, gateway6 and block6 go together)",
		}},
		{"only block6", func(c *Config) { c.Networks[0].Block6 = "fd00:10:244:1::/64" }, []string{
			"networks[0].subnet6: must be set (subnet6, gateway6 and block6 go together)",
			"networks[0].gateway6: must be set",
		}},
		{"IPv4 subnet6", func(c *Config) { dual(c); c.Networks[0].Subnet6 = "10.245.0.0/16" },
			[]string{"networks[0].subnet6: 10.245.0.0/16 is not an IPv6 prefix"}},
		{"subnet6 garbage", func(c *Config) { dual(c); c.Networks[0].Subnet6 = "fd00::" },
			[]string{`networks[0].subnet6: must be an IPv6 CIDR prefix like fd00:10:244::/48, got "fd00::"`}},
		{"subnet6 host bits", func(c *Config) { dual(c); c.Networks[0].Subnet6 = "fd00:10:244::1/48" },
			[]string{"networks[0].subnet6: fd00:10:244::1/48 has host bits set (did you mean fd00:10:244::/48?)"}},
		{"subnet6 too small", func(c *Config) { dual(c); c.Networks[0].Subnet6 = "fd00:10:244::/127" },
			[]string{"networks[0].subnet6: fd00:10:244::/127 is too small for a gateway and pods (at most /126)"}},
		{"IPv4 gateway6", func(c *Config) { dual(c); c.Networks[0].Gateway6 = "10.244.0.1" },
			[]string{"networks[0].gateway6: 10.244.0.1 is not an IPv6 address"}},
		{"gateway6 outside", func(c *Config) { dual(c); c.Networks[0].Gateway6 = "fd00:11::1" },
			[]string{"networks[0].gateway6: fd00:11::1 is outside subnet6 fd00:10:244::/48"}},
		{"gateway6 subnet-router anycast", func(c *Config) { dual(c); c.Networks[0].Gateway6 = "fd00:10:244::" },
			[]string{"networks[0].gateway6: fd00:10:244:: is the subnet-router anycast address of subnet6 fd00:10:244::/48"}},
		{"block6 outside", func(c *Config) { dual(c); c.Networks[0].Block6 = "fd00:11:0:1::/64" },
			[]string{"networks[0].block6: fd00:11:0:1::/64 is outside subnet6 fd00:10:244::/48"}},
		{"block6 larger than subnet6", func(c *Config) { dual(c); c.Networks[0].Block6 = "fd00:10::/32" },
			[]string{"networks[0].block6: fd00:10::/32 is outside subnet6 fd00:10:244::/48"}},
		{"IPv4 block6", func(c *Config) { dual(c); c.Networks[0].Block6 = "10.244.1.0/24" },
			[]string{"networks[0].block6: 10.244.1.0/24 is not an IPv6 prefix"}},
		{"overlapping subnet6 and block6", func(c *Config) {
			dual(c)
			c.Networks[1].Subnet6, c.Networks[1].Gateway6, c.Networks[1].Block6 = "fd00:10::/32", "fd00:10::1", "fd00:10:244:1::/80"
		}, []string{
			"networks[1].subnet6: fd00:10::/32 overlaps networks[0].subnet6 fd00:10:244::/48",
			"networks[1].block6: fd00:10:244:1::/80 overlaps networks[0].block6 fd00:10:244:1::/64",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.edit(c)
			if got := messages(c.Validate()); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Validate problems:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestPools(t *testing.T) {
	c := valid()
	if ps := c.Networks[0].Pools(); len(ps) != 1 || !ps[0].Subnet.Addr().Is4() {
		t.Errorf("Pools of an IPv4-only network = %v, want one IPv4 pool", ps)
	}
	dual(c)
	ps := c.Networks[0].Pools()
	want6 := Pool{Subnet: netip.MustParsePrefix("fd00:10:244::/48"), Block: netip.MustParsePrefix("fd00:10:244:1::/64"), Gateway: netip.MustParseAddr("fd00:10:244::1")}
	if len(ps) != 2 || !ps[0].Subnet.Addr().Is4() || ps[1] != want6 {
		t.Errorf("Pools = %v, want the IPv4 pool then %v", ps, want6)
	}
}
