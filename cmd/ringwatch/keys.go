package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ringwatch/ringwatch/bus"
)

// runKey is `ringwatch agent-key <host>` and `ringwatch reader-key <name>`:
// it makes an nkey, writes its seed (the secret the client keeps) to
// --seed-out or prints it, and prints the entry to paste into the hub's
// config file, under agents: or readers:.
func runKey(cmd string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ringwatch "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	seedOut := fs.String("seed-out", "", "write the seed to this new file (mode 0600) instead of printing it")
	what := "host"
	if cmd != "agent-key" {
		what = "name"
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: ringwatch %s [--seed-out FILE] <%s>\n", cmd, what)
		fs.PrintDefaults()
	}
	name, rest := "", args
	if len(rest) > 0 && len(rest[0]) > 0 && rest[0][0] != '-' {
		name, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if name == "" && fs.NArg() == 1 {
		name = fs.Arg(0)
	} else if fs.NArg() > 0 || name == "" {
		fs.Usage()
		return 2
	}
	seed, public, err := bus.NewUserKey()
	if err != nil {
		fmt.Fprintf(stderr, "ringwatch: %v\n", err)
		return 1
	}
	if *seedOut != "" {
		f, err := os.OpenFile(*seedOut, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			_, err = fmt.Fprintln(f, seed)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "ringwatch: seed file: %v\n", err)
			return 1
		}
	} else {
		fmt.Fprintf(stdout, "# the seed: a secret; save it to a file only the %s can read and pass it as %s\n%s\n",
			strings.TrimSuffix(cmd, "-key"), map[bool]string{true: "its leaf remote's nkey", false: "--nkey-seed FILE"}[cmd == "site-key"], seed)
	}
	switch cmd {
	case "reader-key":
		fmt.Fprintf(stdout, "  # under readers: in the hub's config file\n  - name: %s\n    nkey: %s\n", name, public)
	case "site-key":
		fmt.Fprintf(stdout, "  # under sites: in the hub's config file; list the site's hosts\n  - name: %s\n    hosts: []\n    nkey: %s\n", name, public)
	default:
		fmt.Fprintf(stdout, "  # under agents: in the hub's config file\n  - host: %s\n    nkey: %s\n", bus.Token(name), public)
	}
	return 0
}

// runHashPassword is `ringwatch hash-password`: it reads a password from
// the first line of standard input and prints the bcrypt hash that an
// agent's or reader's password_hash holds.
func runHashPassword(stdin io.Reader, stdout, stderr io.Writer) int {
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintf(stderr, "ringwatch: %v\n", err)
		return 1
	}
	h, err := bus.HashPassword(trimNewline(line))
	if err != nil {
		fmt.Fprintf(stderr, "ringwatch: hash-password reads the password from standard input: %v\n", err)
		return 2
	}
	fmt.Fprintln(stdout, h)
	return 0
}

func trimNewline(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}
