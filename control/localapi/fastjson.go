package localapi

import "bytes"

// decodeEndpointFast reads the body every CNI plugin sends — one flat JSON
// object of Endpoint's keys spelled as the plugin spells them, string
// values without escapes, "ips" a list of such strings, "chained" true or
// false — into ep, and reports whether it could. Anything else (escapes,
// another spelling or key, null, a nested value) is left to
// encoding/json: the answer for such a body must be the one json.Unmarshal
// gives, and FuzzDecodeEndpoint checks that this one is too. It spares the
// agent encoding/json's reflection, a tenth of its CPU per PUT in a burst.
func decodeEndpointFast(b []byte, ep *Endpoint) bool {
	p := jsonScan{b: b}
	if !p.byte('{') {
		return false
	}
	*ep = Endpoint{}
	if p.byte('}') {
		return p.end()
	}
	for {
		key, ok := p.raw()
		if !ok || !p.byte(':') {
			return false
		}
		switch string(key) { // no copy: only compared
		case "containerID":
			ep.ContainerID, ok = p.val()
		case "ifName":
			ep.IfName, ok = p.val()
		case "network":
			ep.Network, ok = p.val()
		case "hostIf":
			ep.HostIf, ok = p.val()
		case "mac":
			ep.MAC, ok = p.val()
		case "netns":
			ep.Netns, ok = p.val()
		case "ips":
			ep.IPs, ok = p.list(ep.IPs[:0])
		case "chained":
			ep.Chained, ok = p.boolean()
		default:
			return false
		}
		if !ok {
			return false
		}
		if p.byte(',') {
			continue
		}
		return p.byte('}') && p.end()
	}
}

// jsonScan reads a JSON text from b, skipping white space before every
// token.
type jsonScan struct {
	b []byte
	i int
}

func (p *jsonScan) skip() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// byte consumes c if it is the next token.
func (p *jsonScan) byte(c byte) bool {
	p.skip()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// end reports whether only white space is left.
func (p *jsonScan) end() bool {
	p.skip()
	return p.i == len(p.b)
}

// val reads a string value.
func (p *jsonScan) val() (string, bool) {
	s, ok := p.raw()
	return string(s), ok
}

// raw reads a string of printable ASCII without escapes, as the bytes of
// the text.
func (p *jsonScan) raw() ([]byte, bool) {
	if !p.byte('"') {
		return nil, false
	}
	n := bytes.IndexByte(p.b[p.i:], '"')
	if n < 0 {
		return nil, false
	}
	s := p.b[p.i : p.i+n]
	for _, c := range s {
		// No escapes; nothing encoding/json would replace or refuse
		// (control characters, invalid UTF-8): plain printable ASCII.
		if c < 0x20 || c > 0x7e || c == '\\' {
			return nil, false
		}
	}
	p.i += n + 1
	return s, true
}

// list reads a list of string values into dst.
func (p *jsonScan) list(dst []string) ([]string, bool) {
	if !p.byte('[') {
		return nil, false
	}
	if p.byte(']') {
		return []string{}, true
	}
	for {
		s, ok := p.val()
		if !ok {
			return nil, false
		}
		dst = append(dst, s)
		if p.byte(',') {
			continue
		}
		return dst, p.byte(']')
	}
}

func (p *jsonScan) boolean() (bool, bool) {
	p.skip()
	switch {
	case bytes.HasPrefix(p.b[p.i:], []byte("true")):
		p.i += 4
		return true, true
	case bytes.HasPrefix(p.b[p.i:], []byte("false")):
		p.i += 5
		return false, true
	}
	return false, false
}
