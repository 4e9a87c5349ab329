package leader

import "time"

// lease is this master's view of the lease it holds, judged on the local monotonic clock.
//
// The bucket expires the lease record TTL after the server stored it. The server stores a
// renewal after the master sent it, so a master that counts from the moment it sent its last
// successful renewal, and gives up margin before TTL has passed, stops acting before the
// record can expire and another master can take it, however slow the answer was.
//
//	      acquire/renew ok                      now >= sent + TTL - margin
//	none ----------------> held (until = sent+TTL-margin) ----------------> lost
//	 ^                       |  renew ok: until moves on                       |
//	 +-----------------------+-------------------------------------------------+
//	                  (campaign again once the leading goroutine has returned)
type lease struct {
	ttl, margin time.Duration
	term        uint64 // revision of the record that made this master leader
	rev         uint64 // revision of the last record written (the CAS point for renewal)
	until       time.Time
}

// renewed records a write of the lease record, sent at sent (a time.Now reading, so with its
// monotonic part), that the bucket stored as revision rev.
func (l *lease) renewed(sent time.Time, rev uint64) {
	l.rev = rev
	l.until = sent.Add(l.ttl - l.margin)
}

// valid reports whether this master may still act as leader at now.
func (l *lease) valid(now time.Time) bool { return l.term != 0 && now.Before(l.until) }

// remaining is how long the lease stays valid after now (0 once it is not).
func (l *lease) remaining(now time.Time) time.Duration {
	if !l.valid(now) {
		return 0
	}
	return l.until.Sub(now)
}
