// Package ociimage writes a single-layer container image as an OCI
// image-layout tarball, the format `ctr images import` and `podman load`
// read, without a container engine.
//
// The tarball holds, in this order:
//
//	oci-layout                      {"imageLayoutVersion":"1.0.0"}
//	blobs/sha256/<layer>            the files, a gzipped tar (no base image: FROM scratch)
//	blobs/sha256/<config>           the image config: platform, entrypoint, env, diff_id of the layer
//	blobs/sha256/<manifest>         the manifest: config and layer descriptors
//	index.json                      one manifest, named by two annotations
//
// The name goes in io.containerd.image.name (what ctr and podman use to tag
// the image on import) and org.opencontainers.image.ref.name (the OCI field).
//
// The output is deterministic: the same image gives the same bytes and so
// the same digests. Files and their parent directories are written sorted by
// path, owned by 0:0, with a fixed mtime; the config has no creation time;
// gzip gets no name or time. Rebuilding from unchanged binaries therefore
// leaves the image ID unchanged on every node.
package ociimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
)

// Media types of the OCI image spec v1.
const (
	MediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
	MediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	MediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"

	// AnnotationContainerdName names the image for containerd and podman.
	AnnotationContainerdName = "io.containerd.image.name"
	// AnnotationRefName is the OCI image-layout reference name.
	AnnotationRefName = "org.opencontainers.image.ref.name"
)

// epoch is every entry's mtime: a build time would change the digest.
var epoch = time.Unix(0, 0).UTC()

// File is one regular file of the image.
type File struct {
	Path string      // absolute path inside the image, e.g. /usr/local/bin/vxbgpd
	Mode fs.FileMode // permission bits, e.g. 0o755
	Data []byte
}

// Image is what Write packs.
type Image struct {
	Name       string // full reference, e.g. ghcr.io/vxbgp/vxbgp:0.11.0
	OS, Arch   string // platform, e.g. linux, amd64
	Entrypoint []string
	Env        []string
	Labels     map[string]string
	Files      []File
}

// Descriptor is an OCI content descriptor.
type Descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Manifest is the OCI image manifest.
type Manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        Descriptor   `json:"config"`
	Layers        []Descriptor `json:"layers"`
}

// Index is the OCI image index (index.json).
type Index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Manifests     []Descriptor `json:"manifests"`
}

// Config is the part of the OCI image config this package writes.
type Config struct {
	Architecture string        `json:"architecture"`
	OS           string        `json:"os"`
	Config       RuntimeConfig `json:"config"`
	RootFS       RootFS        `json:"rootfs"`
}

// RuntimeConfig is the execution part of an image config.
type RuntimeConfig struct {
	Entrypoint []string          `json:"Entrypoint,omitempty"`
	Env        []string          `json:"Env,omitempty"`
	Labels     map[string]string `json:"Labels,omitempty"`
}

// RootFS lists the uncompressed layers' digests.
type RootFS struct {
	Type    string   `json:"type"`
	DiffIDs []string `json:"diff_ids"`
}

// Result describes a written image.
type Result struct {
	Manifest Descriptor // its digest is what `ctr images ls` shows
	Config   Descriptor // its digest is the image ID podman shows
	Layer    Descriptor
}

// Write packs img as an OCI image-layout tarball into w.
func Write(w io.Writer, img Image) (Result, error) {
	if err := check(img); err != nil {
		return Result{}, err
	}
	layer, diffID, err := buildLayer(img.Files)
	if err != nil {
		return Result{}, fmt.Errorf("image %s: layer: %w", img.Name, err)
	}
	cfg, err := json.Marshal(Config{
		Architecture: img.Arch,
		OS:           img.OS,
		Config:       RuntimeConfig{Entrypoint: img.Entrypoint, Env: img.Env, Labels: img.Labels},
		RootFS:       RootFS{Type: "layers", DiffIDs: []string{diffID}},
	})
	if err != nil {
		return Result{}, fmt.Errorf("image %s: config: %w", img.Name, err)
	}
	res := Result{
		Config: describe(MediaTypeConfig, cfg),
		Layer:  describe(MediaTypeLayer, layer),
	}
	man, err := json.Marshal(Manifest{SchemaVersion: 2, MediaType: MediaTypeManifest, Config: res.Config, Layers: []Descriptor{res.Layer}})
	if err != nil {
		return Result{}, fmt.Errorf("image %s: manifest: %w", img.Name, err)
	}
	res.Manifest = describe(MediaTypeManifest, man)
	named := res.Manifest
	named.Annotations = map[string]string{AnnotationContainerdName: img.Name, AnnotationRefName: img.Name}
	idx, err := json.Marshal(Index{SchemaVersion: 2, MediaType: MediaTypeIndex, Manifests: []Descriptor{named}})
	if err != nil {
		return Result{}, fmt.Errorf("image %s: index: %w", img.Name, err)
	}

	tw := tar.NewWriter(w)
	entries := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{blobPath(res.Layer), layer},
		{blobPath(res.Config), cfg},
		{blobPath(res.Manifest), man},
		{"index.json", idx},
	}
	for _, e := range entries {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: 0o644, Size: int64(len(e.data)), ModTime: epoch, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return Result{}, fmt.Errorf("image %s: write %s: %w", img.Name, e.name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return Result{}, fmt.Errorf("image %s: write %s: %w", img.Name, e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return Result{}, fmt.Errorf("image %s: close: %w", img.Name, err)
	}
	return res, nil
}

func check(img Image) error {
	if img.Name == "" || !strings.Contains(path.Base(img.Name), ":") {
		return fmt.Errorf("image name %q: want repository:tag", img.Name)
	}
	if img.OS == "" || img.Arch == "" {
		return fmt.Errorf("image %s: os and arch are required", img.Name)
	}
	seen := map[string]bool{}
	for _, f := range img.Files {
		if !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path || f.Path == "/" {
			return fmt.Errorf("image %s: file path %q: want a clean absolute path", img.Name, f.Path)
		}
		if seen[f.Path] {
			return fmt.Errorf("image %s: file %s twice", img.Name, f.Path)
		}
		seen[f.Path] = true
	}
	return nil
}

// buildLayer returns the gzipped layer tar and the digest of the
// uncompressed tar (the diff_id the config lists).
func buildLayer(files []File) (gz []byte, diffID string, err error) {
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })

	var out bytes.Buffer
	zw, err := gzip.NewWriterLevel(&out, gzip.DefaultCompression)
	if err != nil {
		return nil, "", err
	}
	h := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(zw, h))
	dirs := map[string]bool{}
	for _, f := range files {
		for _, d := range parents(f.Path) {
			if dirs[d] {
				continue
			}
			dirs[d] = true
			hdr := &tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}
			if err := tw.WriteHeader(hdr); err != nil {
				return nil, "", err
			}
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(f.Path, "/"), Mode: int64(f.Mode.Perm()), Size: int64(len(f.Data)), ModTime: epoch, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, "", err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, "", err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	if err := zw.Close(); err != nil {
		return nil, "", err
	}
	return out.Bytes(), "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// parents lists the directories above p, outermost first, without the
// leading slash: /usr/local/bin/x -> usr, usr/local, usr/local/bin.
func parents(p string) []string {
	var out []string
	for d := path.Dir(p); d != "/"; d = path.Dir(d) {
		out = append(out, strings.TrimPrefix(d, "/"))
	}
	slices.Reverse(out)
	return out
}

func describe(mediaType string, b []byte) Descriptor {
	return Descriptor{MediaType: mediaType, Digest: Digest(b), Size: int64(len(b))}
}

// Digest is the OCI digest of b: "sha256:<hex>".
func Digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func blobPath(d Descriptor) string {
	return "blobs/sha256/" + strings.TrimPrefix(d.Digest, "sha256:")
}
