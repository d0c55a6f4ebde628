package session

import (
	"context"
	"sync"
)

// keyedMutex is a set of mutexes by name, created on demand and forgotten
// when nobody holds or waits for them. Unlike sync.Mutex, a waiter gives up
// when its context ends.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*namedLock
}

type namedLock struct {
	ch   chan struct{} // holds one token while the lock is taken
	refs int           // holders and waiters
}

// lock takes the lock named key, waiting until it is free or ctx ends.
func (k *keyedMutex) lock(ctx context.Context, key string) (unlock func(), err error) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = make(map[string]*namedLock)
	}
	l := k.locks[key]
	if l == nil {
		l = &namedLock{ch: make(chan struct{}, 1)}
		k.locks[key] = l
	}
	l.refs++
	k.mu.Unlock()

	release := func() {
		k.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
	select {
	case l.ch <- struct{}{}:
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			<-l.ch
			release()
		})
	}, nil
}
