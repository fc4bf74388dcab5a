package sim

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
)

// Step is one turn of a recorded conversation with a device.
type Step struct {
	Host bool   // true: bytes the host (driver) sent; false: the device's answer
	Data []byte // the bytes, exactly
}

// Transcript is a recorded byte conversation between a driver and a device.
// Its text form (testdata/*.transcript) has one step a line: "> " and a Go
// quoted string for what the host sent, "< " and a quoted string for what the
// device answered; lines starting with # are comments.
type Transcript struct {
	Comment string
	Steps   []Step
}

// ParseTranscript reads the text form of a transcript.
func ParseTranscript(b []byte) (*Transcript, error) {
	t := &Transcript{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case line == "":
		case strings.HasPrefix(line, "#"):
			t.Comment += strings.TrimSpace(line[1:]) + "\n"
		case strings.HasPrefix(line, "> "), strings.HasPrefix(line, "< "):
			data, err := strconv.Unquote(line[2:])
			if err != nil {
				return nil, fmt.Errorf("transcript line %d: %w", n, err)
			}
			t.Steps = append(t.Steps, Step{Host: line[0] == '>', Data: []byte(data)})
		default:
			return nil, fmt.Errorf("transcript line %d: want '> ', '< ' or '#', got %q", n, line)
		}
	}
	return t, sc.Err()
}

// Format returns the text form of t.
func (t *Transcript) Format() []byte {
	var b bytes.Buffer
	for _, line := range strings.Split(strings.TrimSpace(t.Comment), "\n") {
		if line != "" {
			fmt.Fprintf(&b, "# %s\n", line)
		}
	}
	for _, s := range t.Steps {
		dir := "<"
		if s.Host {
			dir = ">"
		}
		fmt.Fprintf(&b, "%s %s\n", dir, strconv.Quote(string(s.Data)))
	}
	return b.Bytes()
}

// Recorder wraps a driver's connection and records both directions;
// consecutive bytes in the same direction make one step.
type Recorder struct {
	rw io.ReadWriteCloser
	mu sync.Mutex
	t  Transcript
}

// NewRecorder records the traffic on rw.
func NewRecorder(rw io.ReadWriteCloser) *Recorder { return &Recorder{rw: rw} }

func (r *Recorder) add(host bool, p []byte) {
	if len(p) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.t.Steps); n > 0 && r.t.Steps[n-1].Host == host {
		r.t.Steps[n-1].Data = append(r.t.Steps[n-1].Data, p...)
		return
	}
	r.t.Steps = append(r.t.Steps, Step{Host: host, Data: append([]byte(nil), p...)})
}

// Read reads from the device and records what came.
func (r *Recorder) Read(p []byte) (int, error) {
	n, err := r.rw.Read(p)
	r.add(false, p[:n])
	return n, err
}

// Write records what the host sends and writes it to the device.
func (r *Recorder) Write(p []byte) (int, error) {
	r.add(true, p)
	return r.rw.Write(p)
}

// Close closes the connection.
func (r *Recorder) Close() error { return r.rw.Close() }

// Transcript returns what was recorded so far.
func (r *Recorder) Transcript() *Transcript {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := &Transcript{}
	for _, s := range r.t.Steps {
		t.Steps = append(t.Steps, Step{Host: s.Host, Data: append([]byte(nil), s.Data...)})
	}
	return t
}

// Replayer plays a device's side of a transcript: the host's writes must
// match the recorded host steps byte for byte (across any number of
// writes), and each device step becomes readable once the host steps before
// it were written in full. A mismatch fails the write and is kept in Err.
type Replayer struct {
	mu     sync.Mutex
	cond   *sync.Cond
	steps  []Step
	pos    int // next step
	off    int // bytes of steps[pos] already matched (host steps)
	out    []byte
	err    error
	closed bool
}

// NewReplayer returns a replayer for t.
func NewReplayer(t *Transcript) *Replayer {
	r := &Replayer{steps: t.Steps}
	r.cond = sync.NewCond(&r.mu)
	r.mu.Lock()
	r.release()
	r.mu.Unlock()
	return r
}

// release makes the device steps at pos readable; the caller holds r.mu.
func (r *Replayer) release() {
	for r.pos < len(r.steps) && !r.steps[r.pos].Host {
		r.out = append(r.out, r.steps[r.pos].Data...)
		r.pos++
	}
	r.cond.Broadcast()
}

// Write checks p against the transcript.
func (r *Replayer) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return 0, r.err
	}
	if r.closed {
		return 0, io.ErrClosedPipe
	}
	for i := 0; i < len(p); {
		if r.pos >= len(r.steps) {
			r.err = fmt.Errorf("replay: host sent %q after the end of the transcript", p[i:])
			return i, r.err
		}
		want := r.steps[r.pos].Data[r.off:]
		n := min(len(want), len(p)-i)
		if !bytes.Equal(p[i:i+n], want[:n]) {
			r.err = fmt.Errorf("replay: step %d: host sent %q, transcript has %q", r.pos+1, p[i:], want)
			return i, r.err
		}
		i += n
		r.off += n
		if r.off == len(r.steps[r.pos].Data) {
			r.pos++
			r.off = 0
			r.release()
		}
	}
	return len(p), nil
}

// Read returns device bytes that the transcript released so far, waiting
// for them; io.EOF after Close.
func (r *Replayer) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.out) == 0 && !r.closed {
		r.cond.Wait()
	}
	if len(r.out) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.out)
	r.out = r.out[n:]
	return n, nil
}

// Close ends the replay: pending reads return io.EOF.
func (r *Replayer) Close() error {
	r.mu.Lock()
	r.closed = true
	r.cond.Broadcast()
	r.mu.Unlock()
	return nil
}

// Err returns the first mismatch, or an error naming the first step not
// played when the transcript was not played to its end.
func (r *Replayer) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	if r.pos < len(r.steps) {
		return fmt.Errorf("replay: stopped at step %d of %d (%q)", r.pos+1, len(r.steps), r.steps[r.pos].Data)
	}
	if len(r.out) > 0 {
		return errors.New("replay: the host did not read the device's last answer")
	}
	return nil
}
