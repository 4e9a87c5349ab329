package master

import (
	"context"
	"sync"
)

// Deliveries are planned under jobMu and posted outside it, in turns handed out in the order
// they were planned: a delivery waits until every one planned before it is posted, so for each
// target a later version of a job is never overtaken by an earlier one, while jobMu is never
// held across a publish. (The catalog and registry writes of a change are still made under
// jobMu: one fenced KV write each, which the next change's plan must see.)

// postOrder hands out turns to post, in the order they are taken.
type postOrder struct {
	mu   sync.Mutex
	last chan struct{} // closed when the latest turn handed out is done; nil: none yet
}

// turn returns the channel that closes when every earlier turn is done, and the function that
// ends this one.
func (o *postOrder) turn() (prev <-chan struct{}, done func()) {
	o.mu.Lock()
	defer o.mu.Unlock()
	prev = o.last
	if prev == nil {
		c := make(chan struct{})
		close(c)
		prev = c
	}
	mine := make(chan struct{})
	o.last = mine
	return prev, sync.OnceFunc(func() { close(mine) })
}

// postInTurn takes the next turn, releases jobMu (held by the caller) and posts out once every
// delivery planned before it is posted. If ctx ends first nothing is posted, and its turn ends
// only after the earlier ones, so the order holds for the turns after it.
func (m *Master) postInTurn(ctx context.Context, out []outgoing) ([]Posted, error) {
	prev, done := m.order.turn()
	m.jobMu.Unlock()
	select {
	case <-prev:
	case <-ctx.Done():
		go func() { <-prev; done() }()
		return nil, ctx.Err()
	}
	defer done()
	if len(out) == 0 {
		return []Posted{}, nil
	}
	return m.postAll(ctx, out)
}

// posted waits until every delivery planned so far is posted.
func (m *Master) posted(ctx context.Context) error {
	m.jobMu.Lock()
	_, err := m.postInTurn(ctx, nil)
	return err
}
