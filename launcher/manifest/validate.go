package manifest

import (
	"fmt"
	"maps"
	"path"
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
	// A file's path variable reads as the file's full path: programs
	// take a key file's path inside a variable of their own
	// (JAVA_TOOL_OPTIONS, GIT_SSH_COMMAND, a URL's sslkey=).
	paths := map[string]bool{}
	for _, f := range m.FilesFor(prof) {
		if f.Env != "" {
			paths[f.Env] = true
		}
	}
	where := ""
	if profile != "" {
		where = " (with profile " + QuoteName(profile) + ")"
	}
	// An env block that was not a mapping declared nothing that can be
	// known: reading its variables is not reported as well.
	unread := p.unreadEnv["env"] || profile != "" && p.unreadEnv["profiles."+profile+".env"]
	undeclared := func(pos Pos, field string, deps []string) {
		if unread {
			return
		}
		for _, d := range deps {
			if _, ok := byName[d]; !ok && !paths[d] {
				p.failAt(pos, field, "declare "+d+" under env, or as a file's env for its path", "template reads undeclared variable %s%s", d, where)
			}
		}
	}
	// A profile only adds variables: a base template reads nothing with
	// it that it did not read without, and was checked then.
	ours := func(field string) bool { return profile == "" || strings.HasPrefix(field, "profiles.") }
	for _, v := range env {
		if v.Template != nil && ours(v.Field) {
			undeclared(v.Pos, v.Field, v.Template.Deps)
		}
	}
	for _, f := range m.FilesFor(prof) {
		if f.Template != nil && ours(f.Field) {
			undeclared(f.Pos, f.Field+".template", f.Template.Deps)
		}
	}
	// A problem of the base's templates that a profile leaves as it
	// was is the base's, reported once: with 20 profiles it was
	// reported 21 times.
	if p.baseTemplates == nil {
		p.baseTemplates = map[string]string{}
	}
	report := func(v *EnvVar, what string) bool {
		if profile == "" {
			p.baseTemplates[v.Field] = what
			return true
		}
		return p.baseTemplates[v.Field] != what
	}
	if loop := cycle(env, byName); loop != nil {
		v := byName[loop[0]]
		if report(v, "cycle "+strings.Join(loop, " ")) {
			p.failAt(v.Pos, v.Field, "break the cycle: one of these templates must read none of the others", "templates depend on each other in a cycle: %s%s", strings.Join(loop, " -> "), where)
		}
		return
	}
	copies := map[string]float64{}
	for _, v := range env {
		if n := expansion(v, byName, copies); v.Template != nil && n > MaxExpansion && report(v, fmt.Sprintf("expands %.0f", n)) {
			p.failAt(v.Pos, v.Field, "a template may hold at most 1024 copies of values, counting through the templates it reads", "the template expands to %.0f copies of values%s", n, where)
		}
	}
}

// cycle returns the names of a cycle of templates that depend on
// themselves, the first again at the end (C1, C2, C1), or nil: a
// depth-first walk over template dependencies.
func cycle(env []*EnvVar, byName map[string]*EnvVar) []string {
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var path []string
	var loop []string
	var visit func(v *EnvVar) bool
	visit = func(v *EnvVar) bool {
		switch state[v.Name] {
		case visiting:
			i := slices.Index(path, v.Name)
			loop = append(slices.Clone(path[i:]), v.Name)
			return false
		case done:
			return true
		}
		state[v.Name] = visiting
		path = append(path, v.Name)
		if v.Template != nil {
			for _, d := range v.Template.Deps {
				if dv, ok := byName[d]; ok && !visit(dv) {
					return false
				}
			}
		}
		path = path[:len(path)-1]
		state[v.Name] = done
		return true
	}
	for _, v := range env {
		if !visit(v) {
			return loop
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
// files share a path, that no file's path is another's directory, and
// that a file's path variable is declared nowhere else. Each problem is
// reported at a file, by the field it is written as; with a profile, only
// those that involve something of the profile: the rest were reported
// for the base manifest.
func (p *parser) checkFiles(m *Manifest) {
	p.checkFileSet(m.Files, m.Env, "")
	base := map[string]*FileSpec{}
	for _, f := range m.Files {
		if f.Path != "" && base[f.Path] == nil {
			base[f.Path] = f
		}
	}
	for _, name := range slices.Sorted(maps.Keys(m.Profiles)) {
		prof := m.Profiles[name]
		// The profile's own list first: a path it names twice replaces
		// one base file with one of them, so the merged list may not
		// show both.
		own := map[string]*FileSpec{}
		for _, f := range prof.Files {
			if f.Path == "" {
				continue
			}
			if o := own[f.Path]; o != nil {
				p.failAt(f.Pos, f.Field+".path", "give each file its own path", "path %q used twice (%s)", f.Path, o.Field)
				continue
			}
			own[f.Path] = f
			// A file replaced whole takes the base's path variable with
			// it, and a profile cannot remove a variable: the child
			// lost it, and a template reading it failed at the start
			// only, after ward check had passed.
			if b := base[f.Path]; b != nil && b.Env != "" && f.Env != b.Env {
				p.failAt(f.Pos, f.Field, fmt.Sprintf("write env: %s in this file too: a profile replaces a file whole, and cannot remove a variable", b.Env), "this file replaces %s, whose env: %s it leaves out", b.Field, b.Env)
			}
		}
		p.checkFileSet(m.FilesFor(prof), m.EnvFor(prof), name)
	}
}

// checkFileSet checks the files a start gets with profile ("" for none).
func (p *parser) checkFileSet(files []*FileSpec, env []*EnvVar, profile string) {
	where := ""
	if profile != "" {
		where = " (with profile " + QuoteName(profile) + ")"
	}
	// Whether a problem between two fields is the profile's to report.
	ours := func(a, b string) bool {
		return profile == "" || strings.HasPrefix(a, "profiles.") || strings.HasPrefix(b, "profiles.")
	}
	// declared holds, by variable, what declares it: an env entry, or a
	// file whose path it gives.
	type declaration struct {
		field string
		file  bool
	}
	declared := map[string]declaration{}
	for _, v := range env {
		declared[v.Name] = declaration{field: v.Field}
	}
	// The files seen so far, by path and by each directory above them:
	// the first base file and the first profile file of each, so that
	// each file is compared with at most a few others. Comparing every
	// pair was quadratic, and reported each pair of one path.
	type firsts struct{ base, prof *FileSpec }
	byPath, byDir := map[string]*firsts{}, map[string]*firsts{}
	add := func(m map[string]*firsts, key string, f *FileSpec) {
		e := m[key]
		if e == nil {
			e = &firsts{}
			m[key] = e
		}
		if strings.HasPrefix(f.Field, "profiles.") {
			if e.prof == nil {
				e.prof = f
			}
		} else if e.base == nil {
			e.base = f
		}
	}
	order := map[*FileSpec]int{}
	// first returns the earliest file of e that f may be reported
	// against: ours, and for one path not two of the profile's (its own
	// list was checked on its own).
	first := func(e *firsts, f *FileSpec, samePath bool) *FileSpec {
		var o *FileSpec
		for _, c := range []*FileSpec{e.base, e.prof} {
			if c == nil || !ours(f.Field, c.Field) {
				continue
			}
			if samePath && profile != "" && strings.HasPrefix(c.Field, "profiles.") && strings.HasPrefix(f.Field, "profiles.") {
				continue
			}
			if o == nil || order[c] < order[o] {
				o = c
			}
		}
		return o
	}
	for _, f := range files {
		// A missing or refused path ("") was reported where it was read.
		if f.Path != "" {
			if e := byPath[f.Path]; e != nil {
				if o := first(e, f, true); o != nil {
					p.failAt(f.Pos, f.Field+".path", "give each file its own path", "path %q used twice (%s)%s", f.Path, o.Field, where)
				}
			}
			// A file seen before under this path, or at a directory above it.
			var o *FileSpec
			if e := byDir[f.Path]; e != nil {
				o = first(e, f, false)
			}
			for dir := path.Dir(f.Path); dir != "."; dir = path.Dir(dir) {
				if e := byPath[dir]; e != nil {
					if c := first(e, f, false); c != nil && (o == nil || order[c] < order[o]) {
						o = c
					}
				}
			}
			if o != nil {
				p.failAt(f.Pos, f.Field+".path", "a file cannot also be a directory of files", "path %q and path %q (%s) cannot both be files%s", f.Path, o.Path, o.Field, where)
			}
			order[f] = len(order)
			add(byPath, f.Path, f)
			for dir := path.Dir(f.Path); dir != "."; dir = path.Dir(dir) {
				add(byDir, dir, f)
			}
		}
		if f.Env == "" {
			continue
		}
		if other, ok := declared[f.Env]; ok {
			switch {
			case !ours(f.Field, other.field):
			case other.file:
				p.failAt(f.EnvPos, f.Field+".env", "choose another name for the file's path variable", "variable %s is also the path variable of %s%s", f.Env, other.field, where)
			default:
				p.failAt(f.EnvPos, f.Field+".env", "choose another name for the file's path variable", "variable %s is also declared under %s%s", f.Env, strings.TrimSuffix(other.field, "."+f.Env), where)
			}
			continue
		}
		declared[f.Env] = declaration{field: f.Field, file: true}
	}
}
