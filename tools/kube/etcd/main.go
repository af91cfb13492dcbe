// Command etcd is etcd's own server, built at the version k8s.io/kubernetes pins, so the
// kube-apiserver of this module has a store to talk to in .ci/k8s.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
