package scheduler

import "sync/atomic"

// queue is a FIFO ring of tasks. Not safe for concurrent use: the
// scheduler's lock guards it.
type queue struct {
	buf        []*task
	head, size int
	n          atomic.Int32 // size, readable without the lock (an estimate then)
}

func (q *queue) len() int { return q.size }

func (q *queue) push(t *task) {
	if q.size == len(q.buf) {
		n := max(16, 2*len(q.buf))
		buf := make([]*task, n)
		k := copy(buf, q.buf[q.head:])
		copy(buf[k:], q.buf[:q.head])
		q.buf, q.head = buf, 0
	}
	q.buf[(q.head+q.size)%len(q.buf)] = t
	q.size++
	q.n.Store(int32(q.size))
}

// approxLen returns the queue's length without the lock: an estimate.
func (q *queue) approxLen() int { return int(q.n.Load()) }

func (q *queue) pop() *task {
	if q.size == 0 {
		return nil
	}
	t := q.buf[q.head]
	q.buf[q.head] = nil
	q.head = (q.head + 1) % len(q.buf)
	q.size--
	q.n.Store(int32(q.size))
	if q.size == 0 && len(q.buf) > 1024 {
		q.buf, q.head = nil, 0 // let a burst's buffer go
	}
	return t
}

// at returns the i-th task from the head.
func (q *queue) at(i int) *task { return q.buf[(q.head+i)%len(q.buf)] }

// inbox is the queue of new submissions: any goroutine pushes without the
// scheduler's lock (many producers), and only a holder of the lock pops (one
// consumer at a time). It is Vyukov's intrusive MPSC queue, linked through
// task.next, with a stub node so that it is never empty of nodes.
type inbox struct {
	head atomic.Pointer[task] // the last node pushed
	tail *task                // the next node to pop; the consumer's
	stub task
	n    atomic.Int64 // tasks pushed and not popped
}

func (q *inbox) init() {
	q.head.Store(&q.stub)
	q.tail = &q.stub
}

// push adds t; safe for concurrent use.
func (q *inbox) push(t *task) {
	q.n.Add(1)
	q.link(t)
}

func (q *inbox) link(t *task) {
	t.next.Store(nil)
	prev := q.head.Swap(t)
	prev.next.Store(t)
}

// pop removes the oldest task, or returns nil when there is none or the
// next one is still being linked by its producer (whose push then finds
// what it needs to wake a worker). With the scheduler's lock only.
func (q *inbox) pop() *task {
	tail := q.tail
	next := tail.next.Load()
	if tail == &q.stub {
		if next == nil {
			return nil
		}
		q.tail, tail = next, next
		next = next.next.Load()
	}
	if next != nil {
		q.tail = next
		q.n.Add(-1)
		return tail
	}
	if tail != q.head.Load() {
		return nil // a push is in progress
	}
	q.link(&q.stub)
	if next = tail.next.Load(); next != nil {
		q.tail = next
		q.n.Add(-1)
		return tail
	}
	return nil
}

// len returns how many tasks are queued (an estimate while pushes run).
func (q *inbox) len() int { return int(q.n.Load()) }
