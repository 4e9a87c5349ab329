package leader

import (
	"testing"
	"testing/synctest"
	"time"
)

func TestLeaseValidity(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := lease{ttl: 9 * time.Second, margin: 2 * time.Second, term: 5}
		if l.valid(time.Now()) {
			t.Fatal("a lease never renewed is valid")
		}
		sent := time.Now()
		time.Sleep(3 * time.Second) // a slow answer does not extend the lease
		l.renewed(sent, 7)
		if !l.valid(time.Now()) || l.remaining(time.Now()) != 4*time.Second {
			t.Fatalf("after a renewal sent 3s ago: valid %v remaining %s, want true 4s", l.valid(time.Now()), l.remaining(time.Now()))
		}
		time.Sleep(4*time.Second - time.Nanosecond)
		if !l.valid(time.Now()) {
			t.Fatal("lease lost before TTL minus margin")
		}
		time.Sleep(time.Nanosecond)
		if l.valid(time.Now()) || l.remaining(time.Now()) != 0 {
			t.Fatal("lease still valid at TTL minus margin after the renewal was sent")
		}
		// The bucket would expire the record at sent+TTL at the earliest: 2 s later.
		if got := time.Until(sent.Add(l.ttl)); got != l.margin {
			t.Fatalf("gave up %s before the record can expire, want %s", got, l.margin)
		}
	})
}

func TestLeaseNoTermIsNotValid(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := lease{ttl: time.Second, margin: 100 * time.Millisecond}
		l.renewed(time.Now(), 3)
		if l.valid(time.Now()) {
			t.Fatal("a lease without a term is valid")
		}
	})
}
