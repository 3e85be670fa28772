package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/remote"
)

// vaultServer is the Vault test server (VAULT_TEST_ADDR, VAULT_TEST_TOKEN),
// spoken to over plain HTTP with the root token.
type vaultServer struct {
	addr, token string
	// client keeps its connections: the one-path-at-a-time baseline.
	client *http.Client
}

func vaultFromEnv() *vaultServer {
	addr := os.Getenv("VAULT_TEST_ADDR")
	if addr == "" {
		return nil
	}
	return &vaultServer{addr: strings.TrimRight(addr, "/"), token: os.Getenv("VAULT_TEST_TOKEN"), client: &http.Client{Timeout: 30 * time.Second}}
}

// vaultPaths is how many KV v2 documents the 200 references spread over.
const vaultPaths = 50

// fill writes the documents the Vault rows read: bench/one for the
// 1-ref case, bench/p00..p49 with four fields each, bench/rotate.
func (v *vaultServer) fill() error {
	if err := v.put("bench/one", map[string]string{"a": "bench-one"}); err != nil {
		return err
	}
	for p := 0; p < vaultPaths; p++ {
		if err := v.put(fmt.Sprintf("bench/p%02d", p), map[string]string{"a": "bench-a", "b": "bench-b", "c": "bench-c", "d": "bench-d"}); err != nil {
			return err
		}
	}
	return v.put("bench/rotate", map[string]string{"v": "initial"})
}

func (v *vaultServer) put(path string, data map[string]string) error {
	body, err := json.Marshal(map[string]any{"data": data})
	if err != nil {
		return err
	}
	req, err := http.NewRequest("POST", v.addr+"/v1/secret/data/"+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("X-Vault-Token", v.token)
	resp, err := v.client.Do(req)
	if err != nil {
		return fmt.Errorf("write secret/%s: %w", path, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("write secret/%s: vault answered %s", path, resp.Status)
	}
	return nil
}

// read reads one KV v2 document with c and discards it.
func (v *vaultServer) read(c *http.Client, path string) error {
	req, err := http.NewRequest("GET", v.addr+"/v1/secret/data/"+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Vault-Token", v.token)
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("read secret/%s: %w", path, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("read secret/%s: vault answered %s", path, resp.Status)
	}
	return nil
}

// roundTrips is two sequential KV reads on a new connection, as
// ward-vault makes for one reference (the mount lookup, then the read).
func (v *vaultServer) roundTrips() (sample, error) {
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	start := time.Now()
	for range 2 {
		if err := v.read(c, "bench/one"); err != nil {
			return sample{}, err
		}
	}
	return sample{wall: time.Since(start)}, nil
}

// sequential is the one-path-at-a-time baseline for 200 references: one
// read per reference, in order, on a kept connection.
func (v *vaultServer) sequential() (sample, error) {
	start := time.Now()
	for p := 0; p < vaultPaths; p++ {
		for range 4 {
			if err := v.read(v.client, fmt.Sprintf("bench/p%02d", p)); err != nil {
				return sample{}, err
			}
		}
	}
	return sample{wall: time.Since(start)}, nil
}

func (v *vaultServer) env(base []string) []string {
	return with(base, "VAULT_ADDR="+v.addr, "VAULT_TOKEN="+v.token)
}

// helperTimes is one session with ward-vault, the harness playing ward.
type helperTimes struct {
	open, fetch, close time.Duration
}

// helperSession starts the Vault helper as ward does (its protocol flag,
// requests on stdin, answers on stdout) and times its answers: exec to
// `open` answered, one `fetch` of bench/one, `close` to exit.
func helperSession(path string, env []string) (helperTimes, error) {
	var t helperTimes
	cmd := exec.Command(path, remote.ServeArg)
	cmd.Env = env
	cmd.Stderr = devnull
	in, err := cmd.StdinPipe()
	if err != nil {
		return t, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return t, err
	}
	r := bufio.NewReader(out)
	send := func(req string) error {
		_, err := io.WriteString(in, req+"\n")
		return err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return t, err
	}
	defer func() { _ = cmd.Wait() }()
	defer in.Close()
	if err := send(fmt.Sprintf(`{"id":1,"op":"open","open":{"protocol":%d,"store":"vault","concurrency":16,"log_level":"WARN"}}`, remote.Protocol)); err != nil {
		return t, err
	}
	if err := awaitAnswer(r, 1); err != nil {
		return t, fmt.Errorf("open: %w", err)
	}
	t.open = time.Since(start)
	mark := time.Now()
	if err := send(`{"id":2,"op":"fetch","refs":[{"raw":"vault://secret/bench/one","scheme":"vault","path":"secret/bench/one"}]}`); err != nil {
		return t, err
	}
	if err := awaitAnswer(r, 2); err != nil {
		return t, fmt.Errorf("fetch: %w", err)
	}
	t.fetch = time.Since(mark)
	mark = time.Now()
	if err := send(`{"id":3,"op":"close"}`); err != nil {
		return t, err
	}
	if err := awaitAnswer(r, 3); err != nil {
		return t, fmt.Errorf("close: %w", err)
	}
	in.Close()
	if err := cmd.Wait(); err != nil {
		return t, err
	}
	t.close = time.Since(mark)
	return t, nil
}

// awaitAnswer reads the helper's lines until the answer to id, skipping
// log records. It reports the helper's error messages (which never hold a
// value) and nothing of a result.
func awaitAnswer(r *bufio.Reader, id uint64) error {
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return fmt.Errorf("the helper's output ended: %w", err)
		}
		var resp struct {
			ID    uint64 `json:"id"`
			Error *struct {
				Msg string `json:"msg"`
			} `json:"error"`
			Result struct {
				Errors []*struct {
					Msg string `json:"msg"`
				} `json:"errors"`
			} `json:"result"`
		}
		if err := json.Unmarshal(line, &resp); err != nil || resp.ID != id {
			continue
		}
		if resp.Error != nil {
			return fmt.Errorf("%s", resp.Error.Msg)
		}
		for _, e := range resp.Result.Errors {
			if e != nil {
				return fmt.Errorf("%s", e.Msg)
			}
		}
		return nil
	}
}

// vaultOne times `ward run -- true` with one Vault KV v2 reference
// against its floor and budget, in one alternating loop: the empty Go
// program, two round trips, the old binary, and the helper on its own.
func (b *bench) vaultOne() error {
	b.rep.section("Vault: one KV v2 reference")
	if b.vault == nil {
		b.rep.text("Skipped: no VAULT_TEST_ADDR (`scripts/vault-server.sh start DIR && . DIR/vault.env`).")
		return nil
	}
	truePath, err := exec.LookPath("true")
	if err != nil {
		return err
	}
	m := b.manifest("vault-1.yaml", "version: 1\nenv:\n  V: vault://secret/bench/one#a\n")
	venv := b.vault.env(b.env)
	helper := filepath.Join(filepath.Dir(b.bin.ward), "ward-vault")
	var times []helperTimes
	probes := []probe{
		{"empty Go program", command(b.env, b.bin.empty)},
		{"2 Vault round trips (two sequential KV reads, new connection, in the harness)", b.vault.roundTrips},
		{"`ward run -- true`, 1 Vault ref", command(venv, b.bin.ward, "run", "-m", m, "--", truePath)},
		{"`ward-vault` alone, the harness as ward: exec → `open` answered → 1 `fetch` → `close` → exit", func() (sample, error) {
			start := time.Now()
			t, err := helperSession(helper, venv)
			if err != nil {
				return sample{}, err
			}
			times = append(times, t)
			return sample{wall: time.Since(start)}, nil
		}},
		{"`ward run -- true`, 0 refs", command(venv, b.bin.ward, "run", "-m", b.localManifest(0), "--", truePath)},
	}
	if b.bin.old != "" {
		probes = append(probes, probe{"old single binary: `ward run -- true`, 1 Vault ref", command(venv, b.bin.old, "run", "-m", m, "--", truePath)})
	}
	floor := len(probes)
	probes = append(probes, probe{"floor: vault/api in one process, mount lookup + read, no child (`testdata/bench/vaultfloor`)", command(venv, b.bin.vaultFloor, "1", "secret", "bench/one")})
	b.progress("vault loop: %d rounds of %d", b.cfg.rounds, len(probes))
	res := alternate(b.cfg.rounds, probes)
	var rows [][]string
	for _, s := range res {
		if !s.ok() {
			rows = append(rows, []string{s.name, "failed: " + s.err.Error(), "", "", ""})
			continue
		}
		rows = append(rows, []string{s.name, ms(median(s.wall)), ms(pct(s.wall, 90)), s.cpuCell(), fmt.Sprintf("%.2fx", ratio(median(s.wall), median(res[0].wall)))})
	}
	b.rep.text("One alternating loop, %d rounds. The round trips are timed inside the harness (no process start); the helper row is the harness speaking ward's protocol to `ward-vault` itself.", b.cfg.rounds)
	b.rep.table([]string{"measurement", "wall median", "wall p90", "user / sys CPU", "÷ empty Go"}, rows)

	f := b.fig
	if res[0].ok() && res[1].ok() && res[2].ok() {
		f.haveVault = true
		f.vaultEmpty, f.roundTrips, f.vault1 = median(res[0].wall), median(res[1].wall), median(res[2].wall)
		if b.bin.old != "" && res[5].ok() {
			f.oldVault1 = median(res[5].wall)
		}
	}
	if res[floor].ok() {
		f.vaultFloor1 = median(res[floor].wall)
	}

	// The breakdown: where the 1-ref run's time goes.
	var open, fetch, closing []time.Duration
	for _, t := range times {
		open, fetch, closing = append(open, t.open), append(fetch, t.fetch), append(closing, t.close)
	}
	logged, logErr := fetchDurations(venv, b.bin.ward, m, truePath, 20)
	var bd [][]string
	if len(times) > 0 {
		bd = append(bd,
			[]string{"helper exec → `open` answered (process start, initialisers, store opened)", ms(median(open)), ms(pct(open, 90))},
			[]string{"… of which `ward-vault`'s package initialisers (inittrace sum, median of the initialiser runs)", ms(b.fig.initVault), ""},
			[]string{"`fetch` of one KV v2 document (mount lookup + read: 2 round trips)", ms(median(fetch)), ms(pct(fetch, 90))},
			[]string{"`close` → helper exited", ms(median(closing)), ms(pct(closing, 90))},
		)
	}
	if logErr == nil {
		bd = append(bd, []string{"ward's own log (`--log-level info --log-format json`): the `secret fetched` duration of the Vault ref, helper start included (20 runs)", ms(median(logged)), ms(pct(logged, 90))})
	} else {
		bd = append(bd, []string{"ward's own log: `secret fetched` duration", "failed: " + logErr.Error(), ""})
	}
	if f.haveVault && res[4].ok() {
		bd = append(bd, []string{"`ward run -- true` with 1 Vault ref minus with 0 refs (medians, same loop)", ms(f.vault1 - median(res[4].wall)), ""})
	}
	b.rep.text("Breakdown of the 1-ref case: the harness starts `ward-vault` with ward's protocol flag and times each answer (medians over the %d rounds of the loop above); ward's own view is the duration it logs for the fetch. The helper's initialisers alone are in the inittrace table.", b.cfg.rounds)
	b.rep.table([]string{"step", "median", "p90"}, bd)
	return nil
}

// fetchDurations runs ward with info logs in JSON and reads the duration
// it logs for fetching the Vault reference.
func fetchDurations(env []string, ward, manifest, truePath string, runs int) ([]time.Duration, error) {
	var out []time.Duration
	for i := 0; i < runs; i++ {
		cmd := exec.Command(ward, "run", "--log-level", "info", "--log-format", "json", "-m", manifest, "--", truePath)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = devnull, &stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("ward run: %w", err)
		}
		found := false
		for _, line := range strings.Split(stderr.String(), "\n") {
			var rec struct {
				Msg      string `json:"msg"`
				Store    string `json:"store"`
				Duration string `json:"duration"`
			}
			if json.Unmarshal([]byte(line), &rec) != nil || rec.Msg != "secret fetched" || rec.Store != "vault" {
				continue
			}
			d, err := time.ParseDuration(rec.Duration)
			if err != nil {
				return nil, fmt.Errorf("read the logged duration: %w", err)
			}
			out, found = append(out, d), true
		}
		if !found {
			return nil, fmt.Errorf("ward logged no `secret fetched` record for the Vault ref")
		}
	}
	return out, nil
}

// vaultMany times 200 references over 50 KV v2 paths, whole `ward run`,
// against 200 sequential reads in the harness.
func (b *bench) vaultMany() error {
	b.rep.section("Vault: 200 references over 50 KV v2 paths")
	if b.vault == nil {
		b.rep.text("Skipped: no VAULT_TEST_ADDR.")
		return nil
	}
	truePath, err := exec.LookPath("true")
	if err != nil {
		return err
	}
	var m strings.Builder
	m.WriteString("version: 1\nenv:\n")
	for p := 0; p < vaultPaths; p++ {
		for _, f := range []string{"a", "b", "c", "d"} {
			fmt.Fprintf(&m, "  V%02d_%s: vault://secret/bench/p%02d#%s\n", p, f, p, f)
		}
	}
	path := b.manifest("vault-200.yaml", m.String())
	venv := b.vault.env(b.env)
	probes := []probe{
		{"`ward run -- true`, 200 Vault refs", command(venv, b.bin.ward, "run", "-m", path, "--", truePath)},
		{"200 sequential reads, one path at a time (in the harness, kept connection)", b.vault.sequential},
	}
	if b.bin.old != "" {
		probes = append(probes, probe{"old single binary: `ward run -- true`, 200 Vault refs", command(venv, b.bin.old, "run", "-m", path, "--", truePath)})
	}
	floor := len(probes)
	paths := []string{b.bin.vaultFloor, strconv.Itoa(resolve.DefaultConcurrency), "secret"}
	for p := 0; p < vaultPaths; p++ {
		paths = append(paths, fmt.Sprintf("bench/p%02d", p))
	}
	probes = append(probes, probe{fmt.Sprintf("floor: vault/api in one process, mount lookup + the %d paths with %d workers, no child (`testdata/bench/vaultfloor`)", vaultPaths, resolve.DefaultConcurrency), command(venv, paths...)})
	res := alternate(b.cfg.vaultTrials, probes)
	seq := median(res[1].wall)
	var rows [][]string
	for i, s := range res {
		if !s.ok() {
			rows = append(rows, []string{s.name, "failed: " + s.err.Error(), "", "", ""})
			continue
		}
		goal := ""
		if i == 0 {
			goal = "≤ 0.25x: " + met(ratio(median(s.wall), seq) <= 0.25)
		}
		rows = append(rows, []string{s.name, ms(median(s.wall)), ms(pct(s.wall, 90)), fmt.Sprintf("%.2fx", ratio(median(s.wall), seq)), goal})
	}
	b.rep.text("One alternating loop, %d rounds.", b.cfg.vaultTrials)
	b.rep.table([]string{"measurement", "wall median", "wall p90", "÷ sequential", "goal"}, rows)
	if res[0].ok() && res[1].ok() {
		b.fig.haveVault200 = true
		b.fig.vault200, b.fig.sequential = median(res[0].wall), seq
		if b.bin.old != "" && res[2].ok() {
			b.fig.old200 = median(res[2].wall)
		}
	}
	if res[floor].ok() {
		b.fig.vaultFloor50 = median(res[floor].wall)
	}
	return nil
}
