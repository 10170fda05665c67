// Command manifest prints a field of xcaddy.json for scripts/xcaddy-build.sh,
// so that the build needs nothing but Go to read its manifest. "with"
// prints one xcaddy --with value per plugin (module[=replace]).
package main

import (
	"encoding/json"
	"fmt"
	"os"
)

type manifest struct {
	CaddyVersion  string `json:"caddy_version"`
	XcaddyVersion string `json:"xcaddy_version"`
	Output        string `json:"output"`
	Plugins       []struct {
		Module string `json:"module"`
		// Version is required with a local Replace: the module proxy has
		// no version of an unpublished checkout, and Go accepts the zero
		// pseudo-version for a module replaced by a directory.
		Version string `json:"version"`
		Replace string `json:"replace"`
	} `json:"plugins"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: manifest caddy_version|xcaddy_version|output|with")
		os.Exit(2)
	}
	data, err := os.ReadFile("xcaddy.json")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		fmt.Fprintln(os.Stderr, "xcaddy.json:", err)
		os.Exit(1)
	}
	switch os.Args[1] {
	case "caddy_version":
		fmt.Println(m.CaddyVersion)
	case "xcaddy_version":
		fmt.Println(m.XcaddyVersion)
	case "output":
		fmt.Println(m.Output)
	case "with":
		for _, p := range m.Plugins {
			w := p.Module
			if p.Version != "" {
				w += "@" + p.Version
			}
			if p.Replace != "" {
				w += "=" + p.Replace
			}
			fmt.Println(w)
		}
	default:
		fmt.Fprintf(os.Stderr, "unknown field %q\n", os.Args[1])
		os.Exit(2)
	}
}
