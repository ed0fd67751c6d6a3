package kubelab

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
)

// ServiceAccountUser is the user name the API server gives a service
// account's tokens, and the one RBAC bindings to it match: a static-token
// User of this name (with ServiceAccountGroups) is that account, as far
// as authorization goes.
func ServiceAccountUser(namespace, name string) User {
	return User{Name: "system:serviceaccount:" + namespace + ":" + name,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace}}
}

// ApplyFile creates every object of a multi-document YAML manifest, as
// `kubectl create -f` would (strictly decoded; kinds: Namespace,
// ServiceAccount, ClusterRole, ClusterRoleBinding, ConfigMap, Secret,
// DaemonSet). The system namespaces appear shortly after the API server
// is ready: a missing namespace is retried for a few seconds.
func ApplyFile(ctx context.Context, client kubernetes.Interface, path string) error {
	return ApplyFileEdit(ctx, client, path, nil)
}

// ApplyFileEdit is ApplyFile with edit (if not nil) called on each decoded
// object before it is created: a lab's overlay on a manifest.
func ApplyFileEdit(ctx context.Context, client kubernetes.Interface, path string, edit func(runtime.Object) error) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	strict := serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()
	for {
		doc, err := dec.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, _, err := strict.Decode(doc, nil, nil)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if edit != nil {
			if err := edit(obj); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
		}
		if err := retryNamespace(ctx, func() error { return create(ctx, client, obj) }); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
}

func create(ctx context.Context, c kubernetes.Interface, obj runtime.Object) error {
	o := metav1.CreateOptions{}
	var err error
	switch v := obj.(type) {
	case *corev1.Namespace:
		_, err = c.CoreV1().Namespaces().Create(ctx, v, o)
	case *corev1.ServiceAccount:
		_, err = c.CoreV1().ServiceAccounts(v.Namespace).Create(ctx, v, o)
	case *corev1.ConfigMap:
		_, err = c.CoreV1().ConfigMaps(v.Namespace).Create(ctx, v, o)
	case *corev1.Secret:
		_, err = c.CoreV1().Secrets(v.Namespace).Create(ctx, v, o)
	case *rbacv1.ClusterRole:
		_, err = c.RbacV1().ClusterRoles().Create(ctx, v, o)
	case *rbacv1.ClusterRoleBinding:
		_, err = c.RbacV1().ClusterRoleBindings().Create(ctx, v, o)
	case *appsv1.DaemonSet:
		_, err = c.AppsV1().DaemonSets(v.Namespace).Create(ctx, v, o)
	default:
		return fmt.Errorf("kubelab.ApplyFile: kind %T not supported", obj)
	}
	return err
}

func retryNamespace(ctx context.Context, f func() error) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := f()
		if !apierrors.IsNotFound(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// stripComments drops comment-only lines, to tell an empty document.
func stripComments(doc []byte) []byte {
	var out [][]byte
	for _, l := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' {
			out = append(out, l)
		}
	}
	return bytes.Join(out, []byte("\n"))
}
