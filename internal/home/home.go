// Package home finds the user's home directory as a shell's ~ does.
package home

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Dir is $HOME, else the home directory of this user's entry in
// /etc/passwd, as a shell's ~, systemd's %h and the Vault CLI's token
// helper (go-homedir) find it: a systemd system unit without User= has no
// $HOME. It is "" when neither gives an absolute directory.
func Dir(getenv func(string) string) string {
	if home := getenv("HOME"); home != "" {
		return home
	}
	return passwd(os.Getuid())
}

// passwd is uid's home directory in /etc/passwd, "" when it has no
// entry there (a container's numeric USER, a directory service's user)
// or a relative one. Read by hand: os/user would add its own parser
// for this one field.
func passwd(uid int) string {
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return ""
	}
	id := strconv.Itoa(uid)
	for line := range strings.SplitSeq(string(b), "\n") {
		// name:password:uid:gid:gecos:home:shell
		f := strings.Split(line, ":")
		if len(f) == 7 && f[2] == id && filepath.IsAbs(f[5]) {
			return f[5]
		}
	}
	return ""
}
