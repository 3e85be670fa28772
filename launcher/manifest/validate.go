package manifest

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// checkTemplates checks that every template reads only declared variables
// and that templates do not depend on each other in a cycle, for the base
// manifest or one profile.
func (p *parser) checkTemplates(m *Manifest, profile string, prof *Profile) {
	env := m.EnvFor(prof)
	byName := map[string]*EnvVar{}
	for _, v := range env {
		byName[v.Name] = v
	}
	where := ""
	if profile != "" {
		where = fmt.Sprintf(" (with profile %s)", profile)
	}
	// An env block that was not a mapping declared nothing that can be
	// known: reading its variables is not reported as well.
	unread := p.unreadEnv["env"] || profile != "" && p.unreadEnv["profiles."+profile+".env"]
	undeclared := func(pos Pos, field string, deps []string) {
		if unread {
			return
		}
		for _, d := range deps {
			if _, ok := byName[d]; !ok {
				p.failAt(pos, field, "declare "+d+" under env", "template reads undeclared variable %s%s", d, where)
			}
		}
	}
	for _, v := range env {
		if v.Template != nil {
			undeclared(v.Pos, "env."+v.Name, v.Template.Deps)
		}
	}
	for i, f := range m.FilesFor(prof) {
		if f.Template != nil {
			undeclared(f.Pos, fmt.Sprintf("files[%d].template", i), f.Template.Deps)
		}
	}
	if v := cycle(env, byName); v != nil {
		p.failAt(v.Pos, "env."+v.Name, "break the cycle", "templates depend on each other in a cycle%s", where)
		return
	}
	copies := map[string]float64{}
	for _, v := range env {
		if n := expansion(v, byName, copies); v.Template != nil && n > MaxExpansion {
			p.failAt(v.Pos, "env."+v.Name, "a template may hold at most 1024 copies of values, counting through the templates it reads", "the template expands to %.0f copies of values%s", n, where)
		}
	}
}

// cycle returns a variable whose templates depend on themselves, or nil:
// a depth-first walk over template dependencies.
func cycle(env []*EnvVar, byName map[string]*EnvVar) *EnvVar {
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var visit func(v *EnvVar) bool
	visit = func(v *EnvVar) bool {
		switch state[v.Name] {
		case visiting:
			return false
		case done:
			return true
		}
		state[v.Name] = visiting
		if v.Template != nil {
			for _, d := range v.Template.Deps {
				if dv, ok := byName[d]; ok && !visit(dv) {
					return false
				}
			}
		}
		state[v.Name] = done
		return true
	}
	for _, v := range env {
		if !visit(v) {
			return v
		}
	}
	return nil
}

// expansion counts the copies of plain and secret values v's value holds:
// 1 for those, and for a template the sum over what it reads. Cycles were
// ruled out; memo keeps it linear.
func expansion(v *EnvVar, byName map[string]*EnvVar, memo map[string]float64) float64 {
	if n, ok := memo[v.Name]; ok {
		return n
	}
	n := 1.0
	if v.Template != nil {
		n = 0
		for d, uses := range v.Template.Uses {
			if dv, ok := byName[d]; ok {
				n += float64(uses) * expansion(dv, byName, memo)
			}
		}
	}
	memo[v.Name] = n
	return n
}

// checkFiles checks, for the base manifest and each profile, that no two
// files share a path and that a file's path variable is not also declared.
func (p *parser) checkFiles(m *Manifest) {
	check := func(files []*FileSpec, env []*EnvVar, field string) {
		paths := map[string]bool{}
		envs := map[string]bool{}
		for _, v := range env {
			envs[v.Name] = true
		}
		for i, f := range files {
			// A missing or refused path ("") was reported where it was read.
			if f.Path != "" {
				if paths[f.Path] {
					p.failAt(f.Pos, fmt.Sprintf("%s[%d].path", field, i), "give each file its own path", "path %q used twice", f.Path)
				}
				for other := range paths {
					if strings.HasPrefix(f.Path, other+"/") || strings.HasPrefix(other, f.Path+"/") {
						p.failAt(f.Pos, fmt.Sprintf("%s[%d].path", field, i), "a file cannot also be a directory of files", "path %q and path %q cannot both be files", f.Path, other)
					}
				}
				paths[f.Path] = true
			}
			if f.Env != "" && envs[f.Env] {
				p.failAt(f.Pos, fmt.Sprintf("%s[%d].env", field, i), "choose another name for the file's path variable", "variable %s is also declared under env", f.Env)
			}
			envs[f.Env] = f.Env != ""
		}
	}
	check(m.Files, m.Env, "files")
	for _, name := range slices.Sorted(maps.Keys(m.Profiles)) {
		prof := m.Profiles[name]
		check(m.FilesFor(prof), m.EnvFor(prof), "profiles."+name+".files")
	}
}
