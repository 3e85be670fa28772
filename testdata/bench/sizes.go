package main

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// sizes lists the binaries' sizes, unstripped and stripped, and the store
// SDK modules each links.
func (b *bench) sizes() error {
	type bin struct{ name, path string }
	bins := []bin{
		{"`ward` (core, `-tags " + noDocsTag + "`)", b.bin.ward},
		{"`ward` (core, no tag)", b.bin.wardNoTag},
	}
	for _, h := range b.bin.helpers {
		bins = append(bins, bin{"`" + filepath.Base(h) + "`", h})
	}
	if b.bin.old != "" {
		bins = append(bins, bin{"old single binary (" + b.bin.oldRev + ")", b.bin.old})
	}
	var rows [][]string
	var total, totalStripped int64
	for i, x := range bins {
		size, err := fileSize(x.path)
		if err != nil {
			return err
		}
		stripped, err := strippedSize(x.path, b.tmp)
		if err != nil {
			return err
		}
		deps, sdks, err := linkedModules(x.path)
		if err != nil {
			return err
		}
		s := "n/a (no strip)"
		if stripped >= 0 {
			s = mib(stripped)
		}
		rows = append(rows, []string{x.name, mib(size), s, strconv.Itoa(deps), sdkList(sdks)})
		isHelper := strings.HasPrefix(filepath.Base(x.path), "ward-")
		if i == 0 || isHelper {
			total += size
			totalStripped += stripped
		}
		switch {
		case i == 0:
			b.fig.sizeWard = size
		case isHelper:
			b.fig.sizeHelpers += size
		case x.path == b.bin.old:
			b.fig.sizeOld = size
		}
	}
	rows = append(rows, []string{"installed set: core + every helper", mib(total), mib(totalStripped), "", ""})
	b.rep.section("Binary sizes")
	b.rep.text("Built with CGO_ENABLED=0 -trimpath. Stripped is `strip --strip-all` of the same file, within a few kB of `-ldflags \"-s -w\"`, which the Dockerfile uses (so the image's ward layer is about the stripped size).")
	b.rep.table([]string{"binary", "size", "stripped", "modules linked", "store SDK modules"}, rows)
	return nil
}

// sdkList names SDK modules briefly: the count and the first few.
func sdkList(sdks []string) string {
	if len(sdks) == 0 {
		return "none"
	}
	shown := sdks[:min(3, len(sdks))]
	s := fmt.Sprintf("%d: %s", len(sdks), strings.Join(shown, ", "))
	if len(sdks) > len(shown) {
		s += ", …"
	}
	return s
}
