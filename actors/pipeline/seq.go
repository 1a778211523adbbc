package pipeline

import "github.com/ringwatch/ringwatch/bus"

// seqWindowBits is how far back, in one agent's sample numbers, the hub
// remembers what it had: further than an agent sends again, which is what
// it sent between its last confirmed round trip (bus.ConfirmEvery) and
// finding its connection dead, about 15 s: 1,024 numbers cover 51 s of an
// agent polling every 100 ms (the shortest --poll-interval) with two kinds,
// for 128 bytes per host.
const seqWindowBits = 1024

// seqWindow remembers which of an agent's most recent sample numbers
// (bus.SeqHeader) arrived, to drop the samples an agent sends again after
// a connection died although the hub had them.
type seqWindow struct {
	boot, last uint64
	seen       [seqWindowBits / 64]uint64 // bit d: last-d arrived
}

// fresh records sample n of boot and says whether it is new. A new boot
// (the agent restarted) starts afresh; a number older than the window is
// taken as new, since a duplicate costs less than a loss.
func (w *seqWindow) fresh(boot, n uint64) bool {
	switch {
	case boot != w.boot:
		*w = seqWindow{boot: boot, last: n}
		w.seen[0] = 1
		return true
	case n > w.last:
		w.shift(n - w.last)
		w.last = n
		w.seen[0] |= 1
		return true
	}
	d := w.last - n
	if d >= seqWindowBits {
		return true
	}
	word, bit := d/64, uint64(1)<<(d%64)
	if w.seen[word]&bit != 0 {
		return false
	}
	w.seen[word] |= bit
	return true
}

// shift moves the window k numbers on.
func (w *seqWindow) shift(k uint64) {
	if k >= seqWindowBits {
		w.seen = [len(w.seen)]uint64{}
		return
	}
	words, bits := int(k/64), k%64
	for i := len(w.seen) - 1; i >= 0; i-- {
		var v uint64
		if j := i - words; j >= 0 {
			v = w.seen[j] << bits
			if bits > 0 && j > 0 {
				v |= w.seen[j-1] >> (64 - bits)
			}
		}
		w.seen[i] = v
	}
}

// RestoreSeq tells the pipeline that host's restored state holds its
// agent's samples up to the number seq (bus.SeqHeader, saved with the
// latest sample of a kind): those an agent sends again after the restart
// are duplicates. The newest of a host's kinds wins. Call it after Restore
// and before Run.
func (p *Pipeline) RestoreSeq(host, seq string) {
	boot, n, ok := bus.ParseSeq(seq)
	if !ok {
		return
	}
	e, ok := p.hosts.Load(host)
	if !ok {
		return
	}
	w := &e.(*hostEntry).seq
	if w.boot == boot && w.last >= n {
		return
	}
	*w = seqWindow{boot: boot, last: n}
	for i := range w.seen {
		w.seen[i] = ^uint64(0) // in order on one connection: everything up to n was had
	}
}

// duplicate says whether a live sample of host is one the hub already had,
// by its SeqHeader value seq; samples without one are never duplicates.
// Only the ingest actor calls it.
func (p *Pipeline) duplicate(host, seq string) bool {
	boot, n, ok := bus.ParseSeq(seq)
	if !ok {
		return false
	}
	e, ok := p.hosts.Load(host)
	if !ok {
		return false
	}
	return !e.(*hostEntry).seq.fresh(boot, n)
}
