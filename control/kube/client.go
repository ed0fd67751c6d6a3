package kube

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/vxbgp/vxbgp/control/config"
)

// Client lists and watches Nodes: all the informer asks of the API
// server. A clientset's CoreV1().Nodes() is one (tests hand in the fake
// clientset's).
type Client interface {
	List(ctx context.Context, o metav1.ListOptions) (*corev1.NodeList, error)
	Watch(ctx context.Context, o metav1.ListOptions) (watch.Interface, error)
}

// NewClient makes the API client of c: from the kubeconfig file, or
// in-cluster from the service account when the path is empty.
func NewClient(c config.Kubernetes) (Client, error) {
	var rc *rest.Config
	var err error
	if c.Kubeconfig == "" {
		if rc, err = rest.InClusterConfig(); err != nil {
			return nil, fmt.Errorf("kubernetes: in-cluster credentials (kubernetes.kubeconfig is empty): %w", err)
		}
	} else if rc, err = clientcmd.BuildConfigFromFlags("", c.Kubeconfig); err != nil {
		return nil, fmt.Errorf("kubernetes.kubeconfig %s: %w", c.Kubeconfig, err)
	}
	rc.UserAgent = "vxbgpd"
	return newNodeClient(rc)
}

// nodeClient is a REST client that knows core/v1 only. client-go's typed
// clients register every API group of k8s.io/api, which adds some 22 MB
// to vxbgpd for types it never sees.
type nodeClient struct {
	rest   *rest.RESTClient
	params runtime.ParameterCodec
}

func newNodeClient(rc *rest.Config) (*nodeClient, error) {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c := rest.CopyConfig(rc)
	c.APIPath, c.GroupVersion = "/api", &corev1.SchemeGroupVersion
	c.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	r, err := rest.RESTClientFor(c)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return &nodeClient{rest: r, params: runtime.NewParameterCodec(scheme)}, nil
}

// List is GET /api/v1/nodes.
func (c *nodeClient) List(ctx context.Context, o metav1.ListOptions) (*corev1.NodeList, error) {
	var out corev1.NodeList
	req := c.rest.Get().Resource("nodes").VersionedParams(&o, c.params)
	if o.TimeoutSeconds != nil {
		req = req.Timeout(time.Duration(*o.TimeoutSeconds) * time.Second)
	}
	return &out, req.Do(ctx).Into(&out)
}

// Watch is GET /api/v1/nodes?watch=true.
func (c *nodeClient) Watch(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
	o.Watch = true
	req := c.rest.Get().Resource("nodes").VersionedParams(&o, c.params)
	if o.TimeoutSeconds != nil {
		req = req.Timeout(time.Duration(*o.TimeoutSeconds) * time.Second)
	}
	return req.Watch(ctx)
}
