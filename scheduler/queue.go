package scheduler


// queue is a FIFO ring of tasks. Not safe for concurrent use: the
// scheduler's lock guards it.
type queue struct {
	buf        []*task
	head, size int
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
}

func (q *queue) pop() *task {
	if q.size == 0 {
		return nil
	}
	t := q.buf[q.head]
	q.buf[q.head] = nil
	q.head = (q.head + 1) % len(q.buf)
	q.size--
	if q.size == 0 && len(q.buf) > 1024 {
		q.buf, q.head = nil, 0 // let a burst's buffer go
	}
	return t
}

// at returns the i-th task from the head.
func (q *queue) at(i int) *task { return q.buf[(q.head+i)%len(q.buf)] }
