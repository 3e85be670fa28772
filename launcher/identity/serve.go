package identity

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/wardsecrets/ward/resolve"
)

// server is what every endpoint shares: a listener on 127.0.0.1, a
// bounded number of connections served at once, one request a
// connection, and a stop that cuts the connections under way short. The
// endpoint's answer decides the response.
type server struct {
	// name is the endpoint's, in log lines: aws, gcp, azure.
	name   string
	ln     net.Listener
	log    *slog.Logger
	answer func(conn net.Conn, req request, err error) response

	stop  context.CancelFunc
	done  sync.WaitGroup
	slots chan struct{}
	// others are the slots of connections from other users' sockets
	// (samePeerUser): a few, never waited for, so that they cannot hold
	// every slot with connections that never send their head.
	others chan struct{}
	mu     sync.Mutex
	conns  map[net.Conn]bool
}

const (
	// maxConns bounds the connections of ward's own user served at once;
	// more wait in the listen queue.
	maxConns = 32
	// maxOthers bounds those of other users (which the GCP endpoint
	// refuses and the others serve on their token); one more is closed
	// at once.
	maxOthers = 4
	// readTimeout bounds the time a client takes to send its head.
	readTimeout = 5 * time.Second
)

// listenLoopback listens on 127.0.0.1 at a random port: not localhost or
// ::1, which every SDK accepts as a loopback host for a plain-HTTP
// credentials endpoint.
func listenLoopback(name string) (net.Listener, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, errors.New("listen for the " + name + " endpoint on 127.0.0.1: " + err.Error())
	}
	return ln, nil
}

// startServer serves ln with answer and runs each of loops (the caches'
// refresh loops) until close.
func startServer(name string, ln net.Listener, log *slog.Logger, answer func(net.Conn, request, error) response, loops ...func(context.Context)) *server {
	log = orDiscard(log)
	s := &server{name: name, ln: ln, log: log, answer: answer, slots: make(chan struct{}, maxConns), others: make(chan struct{}, maxOthers), conns: map[net.Conn]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	for _, loop := range loops {
		s.done.Go(func() { loop(ctx) })
	}
	s.done.Go(func() { s.accept(ctx) })
	log.Debug(name+" endpoint listening", "addr", ln.Addr().String())
	return s
}

// close stops serving and the loops, and waits for them to end.
func (s *server) close() error {
	s.stop()
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.SetDeadline(time.Now())
	}
	s.mu.Unlock()
	s.done.Wait()
	return err
}

func (s *server) accept(ctx context.Context) {
	var failing acceptFailures
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || !failing.wait(ctx, s.log, s.name, err) {
				return
			}
			continue
		}
		failing.recovered(s.log, s.name)
		slots := s.slots
		same, checked, err := samePeerUser(conn)
		conn = &peerConn{Conn: conn, same: same, checked: checked, err: err}
		if checked && (!same || err != nil) {
			// Another user's (or an unknown) socket: one of a few slots,
			// or closed at once. A slow or silent client of another user
			// used to hold the slots ward's child needed, starving its
			// credential refreshes.
			select {
			case s.others <- struct{}{}:
				slots = s.others
			default:
				conn.Close()
				continue
			}
		} else {
			s.slots <- struct{}{}
		}
		s.done.Go(func() {
			defer func() { <-slots }()
			s.serve(conn)
		})
	}
}

// serve answers one request and closes the connection.
func (s *server) serve(conn net.Conn) {
	s.mu.Lock()
	s.conns[conn] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
		conn.Close()
	}()
	conn.SetDeadline(time.Now().Add(readTimeout))
	head, err := readHead(conn)
	if err != nil && !errors.Is(err, errHeadTooLarge) {
		// Gone, or too slow: nobody to answer.
		return
	}
	var req request
	if err == nil {
		req, err = parseHead(head)
	}
	resp := s.answer(conn, req, err)
	resp.write(conn)
	if err != nil || req.body {
		// Closed with the rest of the request unread, the connection is
		// reset, and a client still sending it (a head of megabytes)
		// never read the answer.
		drainRest(conn)
	}
}

// drainRest ends what the endpoint sends and reads what the client still
// sends, up to drainLimit bytes or a second, before the close.
func drainRest(conn net.Conn) {
	if pc, ok := conn.(*peerConn); ok {
		conn = pc.Conn
	}
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	conn.SetReadDeadline(time.Now().Add(time.Second))
	io.Copy(io.Discard, io.LimitReader(conn, drainLimit))
}

// drainLimit bounds what drainRest reads.
const drainLimit = 16 << 20

// acceptFailures paces an accept loop whose accepts fail (EMFILE: ward or
// the machine out of file descriptors, until something is closed): it
// waits between attempts as net/http's server does, from 5 ms doubling
// to 1 s, and warns at most once a refusalInterval, with the count of
// failures it kept quiet about, rather than once an attempt.
type acceptFailures struct {
	delay    time.Duration
	count    int
	quiet    int
	warnedAt time.Time
}

const (
	acceptDelayMin = 5 * time.Millisecond
	acceptDelayMax = time.Second
)

// wait notes the failure err and waits before the next attempt; it
// returns false when ctx ends first.
func (f *acceptFailures) wait(ctx context.Context, log *slog.Logger, name string, err error) bool {
	f.count++
	if now := time.Now(); f.warnedAt.IsZero() || now.Sub(f.warnedAt) >= refusalInterval {
		log.Warn(name+" endpoint cannot accept a connection", "error", err.Error(), "failed_since_last_warning", f.quiet)
		f.warnedAt, f.quiet = now, 0
	} else {
		f.quiet++
	}
	f.delay = min(max(2*f.delay, acceptDelayMin), acceptDelayMax)
	return resolve.Sleep(ctx, f.delay)
}

// recovered says, once, that accepting works again after failures.
func (f *acceptFailures) recovered(log *slog.Logger, name string) {
	if f.count > 0 {
		log.Info(name+" endpoint accepts connections again", "failed", f.count)
		*f = acceptFailures{}
	}
}
