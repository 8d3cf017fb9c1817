// cnidriver: a container runtime's side of CNI, on the reference library (libcni), for tests.
//
//	cnidriver -cache-dir DIR [-path DIRS] [-args K=V;K=V] \
//	    add|check|del CONFLIST NETNS CONTAINERID IFNAME
//	cnidriver [-path DIRS] version PLUGIN
//
// add prints the result (converted by libcni to the conflist's cniVersion) on stdout; check and
// del print nothing. On failure the error goes to stdout as JSON and the exit status is 1: a
// plugin's error object keeps its code, msg and details; other errors are {"code":-1,"msg":...}.
// libcni caches each ADD result under -cache-dir and passes it as prevResult to CHECK and DEL,
// exactly as containerd and CRI-O do.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
)

const usage = "usage: cnidriver -cache-dir DIR [-path DIRS] [-args K=V;...] " +
	"add|check|del CONFLIST NETNS CONTAINERID IFNAME\n       cnidriver [-path DIRS] version PLUGIN"

func fail(err error) {
	var perr *types.Error
	if errors.As(err, &perr) {
		out, _ := json.Marshal(perr)
		fmt.Println(string(out))
	} else {
		out, _ := json.Marshal(map[string]interface{}{"code": -1, "msg": err.Error()})
		fmt.Println(string(out))
	}
	os.Exit(1)
}

func parseArgs(s string) ([][2]string, error) {
	var out [][2]string
	if s == "" {
		return out, nil
	}
	for _, pair := range strings.Split(s, ";") {
		kv := strings.SplitN(pair, "=", 2)
		if len(kv) != 2 {
			return nil, fmt.Errorf("bad -args pair %q", pair)
		}
		out = append(out, [2]string{kv[0], kv[1]})
	}
	return out, nil
}

func main() {
	path := flag.String("path", os.Getenv("CNI_PATH"), "plugin directories, ':'-separated")
	cacheDir := flag.String("cache-dir", "", "libcni's result cache (required for add/check/del)")
	argsFlag := flag.String("args", "", "CNI_ARGS pairs K=V;K=V")
	flag.Parse()
	a := flag.Args()
	if len(a) < 1 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	ctx := context.Background()
	dirs := strings.Split(*path, ":")

	if a[0] == "version" {
		if len(a) != 2 {
			fmt.Fprintln(os.Stderr, "usage: cnidriver version PLUGIN")
			os.Exit(2)
		}
		cni := libcni.NewCNIConfig(dirs, nil)
		info, err := cni.GetVersionInfo(ctx, a[1])
		if err != nil {
			fail(err)
		}
		out, _ := json.Marshal(map[string]interface{}{"supportedVersions": info.SupportedVersions()})
		fmt.Println(string(out))
		return
	}

	if len(a) != 5 || *cacheDir == "" {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	list, err := libcni.ConfListFromFile(a[1])
	if err != nil {
		fail(err)
	}
	cniArgs, err := parseArgs(*argsFlag)
	if err != nil {
		fail(err)
	}
	cni := libcni.NewCNIConfigWithCacheDir(dirs, *cacheDir, nil)
	rt := &libcni.RuntimeConf{ContainerID: a[3], NetNS: a[2], IfName: a[4], Args: cniArgs}

	switch a[0] {
	case "add":
		r, err := cni.AddNetworkList(ctx, list, rt)
		if err != nil {
			fail(err)
		}
		if err := r.Print(); err != nil {
			fail(err)
		}
		fmt.Println()
	case "check":
		if err := cni.CheckNetworkList(ctx, list, rt); err != nil {
			fail(err)
		}
	case "del":
		if err := cni.DelNetworkList(ctx, list, rt); err != nil {
			fail(err)
		}
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n", a[0])
		os.Exit(2)
	}
}
