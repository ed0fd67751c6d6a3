// Command vxbgp-image packs vxbgp's container image FROM scratch, without a
// container engine: the three static binaries under /usr/local/bin and the
// default conflist under /etc/vxbgp, as an OCI image-layout tarball for
// `ctr images import` and `podman load`. `make image` runs it.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/vxbgp/vxbgp/internal/ociimage"
)

// binaries are the image's programs; the first is the entrypoint.
var binaries = []string{"vxbgpd", "vxbgpctl", "vxbgp-cni"}

const (
	binDir       = "/usr/local/bin"
	conflistPath = "/etc/vxbgp/10-vxbgp.conflist"
)

func main() {
	name := flag.String("name", "", "image reference, e.g. ghcr.io/vxbgp/vxbgp:0.11.0")
	bin := flag.String("bin", "bin", "directory holding the static binaries")
	conflist := flag.String("conflist", "deploy/cni/10-vxbgp.conflist", "the CNI conflist to ship")
	out := flag.String("o", "bin/vxbgp-image.tar", "output tarball")
	arch := flag.String("arch", runtime.GOARCH, "the binaries' architecture")
	flag.Parse()
	if err := run(*name, *bin, *conflist, *out, *arch); err != nil {
		fmt.Fprintf(os.Stderr, "vxbgp-image: %v\n", err)
		os.Exit(1)
	}
}

func run(name, bin, conflist, out, arch string) error {
	start := time.Now()
	img := ociimage.Image{
		Name: name, OS: "linux", Arch: arch,
		Entrypoint: []string{binDir + "/" + binaries[0]},
		Env:        []string{"PATH=" + binDir},
		Labels: map[string]string{
			"org.opencontainers.image.title":   "vxbgp",
			"org.opencontainers.image.source":  "https://github.com/vxbgp/vxbgp",
			"org.opencontainers.image.version": name[strings.LastIndex(name, ":")+1:],
		},
	}
	for _, b := range binaries {
		data, err := os.ReadFile(filepath.Join(bin, b))
		if err != nil {
			return err
		}
		img.Files = append(img.Files, ociimage.File{Path: binDir + "/" + b, Mode: 0o755, Data: data})
	}
	data, err := os.ReadFile(conflist)
	if err != nil {
		return err
	}
	img.Files = append(img.Files, ociimage.File{Path: conflistPath, Mode: 0o644, Data: data})

	// Written beside the target and renamed: an interrupted build never
	// leaves a truncated tarball under the real name.
	tmp, err := os.CreateTemp(filepath.Dir(out), ".tmp-"+filepath.Base(out)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	res, err := ociimage.Write(tmp, img)
	if err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return err
	}
	fi, err := os.Stat(out)
	if err != nil {
		return err
	}
	fmt.Printf("%s: %s\n  manifest %s\n  image id %s\n  %.1f MB (layer %.1f MB gzipped) in %s\n",
		out, name, res.Manifest.Digest, res.Config.Digest,
		float64(fi.Size())/1e6, float64(res.Layer.Size)/1e6, time.Since(start).Round(time.Millisecond))
	return nil
}
