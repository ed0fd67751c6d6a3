package deploy

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
)

func container(pod corev1.PodSpec, name string) (corev1.Container, bool) {
	i := slices.IndexFunc(pod.Containers, func(c corev1.Container) bool { return c.Name == name })
	if i < 0 {
		return corev1.Container{}, false
	}
	return pod.Containers[i], true
}

func mountAt(c corev1.Container, p string) (corev1.VolumeMount, bool) {
	i := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == p })
	if i < 0 {
		return corev1.VolumeMount{}, false
	}
	return c.VolumeMounts[i], true
}

func volume(pod corev1.PodSpec, name string) corev1.Volume {
	i := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == name })
	if i < 0 {
		return corev1.Volume{}
	}
	return pod.Volumes[i]
}

// hostPathAt is the host path mounted at p in c, or "".
func hostPathAt(pod corev1.PodSpec, c corev1.Container, p string) string {
	m, ok := mountAt(c, p)
	if !ok {
		return ""
	}
	if v := volume(pod, m.Name); v.HostPath != nil {
		return v.HostPath.Path
	}
	return ""
}

// flagValue returns the argument after name in args, or "".
func flagValue(args []string, name string) string {
	i := slices.Index(args, name)
	if i < 0 || i+1 >= len(args) {
		return ""
	}
	return args[i+1]
}
