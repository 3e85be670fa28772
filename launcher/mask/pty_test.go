package mask

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	if os.Getenv("WARD_MASK_PTY_HELPER") == "1" {
		ptyHelper()
		return
	}
	os.Exit(m.Run())
}

// ptyHelper is the child of TestPTYWiring: it reports its terminal size in
// colour (with the test token), each SIGINT with a count, and on SIGWINCH
// the new size, then exits 7.
func ptyHelper() {
	sig := make(chan os.Signal, 8)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGWINCH)
	rows, cols, _ := pty.Getsize(os.Stdout)
	fmt.Printf("\x1b[31mready %d %d token=%s\x1b[0m\n", rows, cols, os.Getenv("HELPER_TOKEN"))
	ints := 0
	for s := range sig {
		switch s {
		case syscall.SIGINT:
			ints++
			fmt.Printf("sigint %d\n", ints)
		case syscall.SIGWINCH:
			rows, cols, _ := pty.Getsize(os.Stdout)
			fmt.Printf("winch %d %d\n", rows, cols)
			os.Exit(7)
		}
	}
}

// TestPTYWiring follows the wiring documented on OpenPTY with a real
// pseudo-terminal standing in for ward's terminal: the child sees that
// terminal's size, its colours pass through with the value masked, Ctrl-C
// written as a byte reaches it once as SIGINT, a resize reaches it as
// SIGWINCH, and its exit code is kept.
func TestPTYWiring(t *testing.T) {
	wardTTY, wardTTYSlave, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	defer wardTTY.Close()
	defer wardTTYSlave.Close()
	if err := pty.Setsize(wardTTYSlave, &pty.Winsize{Rows: 24, Cols: 80}); err != nil {
		t.Fatal(err)
	}

	master, slave, err := OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	if err := InheritSize(wardTTYSlave, master); err != nil {
		t.Fatal(err)
	}
	const token = "tok-8c1e55aa"
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "WARD_MASK_PTY_HELPER=1", "HELPER_TOKEN="+token)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()

	pr, pw := io.Pipe()
	w, _ := New(pw, []Secret{{Name: "TOKEN", Value: []byte(token)}})
	copied := make(chan error, 1)
	go func() {
		copied <- Copy(w, master)
		pw.Close()
	}()
	lines := make(chan string)
	go func() {
		s := bufio.NewScanner(pr)
		for s.Scan() {
			lines <- strings.TrimSuffix(s.Text(), "\r")
		}
		close(lines)
	}()
	next := func(what string) string {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("output ended waiting for %s", what)
			}
			return l
		case <-time.After(10 * time.Second):
			t.Fatalf("no line for %s in 10s", what)
		}
		return ""
	}

	if got, want := next("ready"), "\x1b[31mready 24 80 token=<ward:TOKEN>\x1b[0m"; got != want {
		t.Fatalf("got line %q, want %q", got, want)
	}
	if _, err := master.Write([]byte{0x03}); err != nil {
		t.Fatal(err)
	}
	// The line discipline echoes ^C before the child's line.
	if got := next("sigint"); !strings.HasSuffix(got, "sigint 1") {
		t.Fatalf("got line %q, want one SIGINT", got)
	}
	if err := pty.Setsize(wardTTYSlave, &pty.Winsize{Rows: 30, Cols: 100}); err != nil {
		t.Fatal(err)
	}
	if err := InheritSize(wardTTYSlave, master); err != nil {
		t.Fatal(err)
	}
	if got := next("winch"); got != "winch 30 100" {
		t.Fatalf("got line %q, want the new size (and no second SIGINT)", got)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("got wait error %v, want exit code 7", err)
	}
	select {
	case err := <-copied:
		if err != nil {
			t.Fatalf("copy: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("copy did not end after the child exited")
	}
	if l, ok := <-lines; ok {
		t.Fatalf("unexpected line %q after exit", l)
	}
}

func TestInheritSize(t *testing.T) {
	from, fromSlave, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	defer from.Close()
	defer fromSlave.Close()
	master, slave, err := OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	defer slave.Close()
	want := pty.Winsize{Rows: 51, Cols: 173, X: 1384, Y: 918}
	if err := pty.Setsize(fromSlave, &want); err != nil {
		t.Fatal(err)
	}
	if err := InheritSize(fromSlave, master); err != nil {
		t.Fatal(err)
	}
	got, err := pty.GetsizeFull(slave)
	if err != nil {
		t.Fatal(err)
	}
	if *got != want {
		t.Errorf("got size %+v, want %+v", *got, want)
	}
	if err := InheritSize(os.NewFile(^uintptr(0), "bad"), master); err == nil {
		t.Errorf("got no error from a bad descriptor")
	}
}

func TestMakeRaw(t *testing.T) {
	master, slave, err := OpenPTY()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	defer master.Close()
	defer slave.Close()
	lflag := func() uint32 {
		tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatal(err)
		}
		return tio.Lflag
	}
	if lflag()&(unix.ICANON|unix.ISIG) == 0 {
		t.Fatal("a new pseudo-terminal is not in canonical mode")
	}
	restore, err := MakeRaw(slave)
	if err != nil {
		t.Fatal(err)
	}
	if lflag()&(unix.ICANON|unix.ISIG|unix.ECHO) != 0 {
		t.Errorf("raw mode left ICANON, ISIG or ECHO set")
	}
	if err := restore(); err != nil {
		t.Fatal(err)
	}
	if err := restore(); err != nil {
		t.Fatalf("second restore: %v", err)
	}
	if lflag()&(unix.ICANON|unix.ISIG) != unix.ICANON|unix.ISIG {
		t.Errorf("restore did not bring back ICANON and ISIG")
	}
	if _, err := MakeRaw(os.NewFile(^uintptr(0), "bad")); err == nil {
		t.Errorf("got no error making a bad descriptor raw")
	}
}

// TestPTYWrappedBase64: base64 printed in lines by a child on a
// pseudo-terminal reaches the relay with "\r\n" line ends (the line
// discipline's output translation) and is masked there.
func TestPTYWrappedBase64(t *testing.T) {
	master, slave, err := OpenPTY()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	defer master.Close()
	defer slave.Close()
	value := randToken(rand.New(rand.NewSource(7)), 120)
	pr, pw := io.Pipe()
	w, _ := New(pw, []Secret{{Name: "CERT", Value: value}})
	copied := make(chan error, 1)
	go func() {
		copied <- Copy(w, master)
		pw.Close()
	}()
	got := make(chan []byte, 1)
	go func() {
		// Up to the last line: the slave is closed only once the output
		// is read, so none of it is lost in a hang-up.
		var b []byte
		buf := make([]byte, 4096)
		for !bytes.HasSuffix(b, []byte("done\r\n")) {
			n, err := pr.Read(buf)
			b = append(b, buf[:n]...)
			if err != nil {
				break
			}
		}
		got <- b
		io.Copy(io.Discard, pr)
	}()
	// As `base64` and `openssl base64` write it, each in one write.
	slave.Write([]byte("b64:\n" + printedBase64(value, 76, "\n")))
	slave.Write([]byte(printedBase64(value, 64, "\n") + "done\n"))
	want := []byte("b64:\r\n<ward:CERT>\r\n<ward:CERT>\r\ndone\r\n")
	select {
	case out := <-got:
		if !bytes.Equal(out, want) {
			t.Errorf("%s", diff(out, want))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no last line in 10s")
	}
	slave.Close()
	select {
	case err := <-copied:
		if err != nil {
			t.Fatalf("copy: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("copy did not end after the slave was closed")
	}
}
