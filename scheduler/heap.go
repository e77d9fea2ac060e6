package scheduler

// timerHeap is a min-heap of parked tasks by Due; each task knows its index,
// so removal is O(log n). Not safe for concurrent use: the scheduler's lock
// guards it.
type timerHeap []*task

func (h timerHeap) less(i, j int) bool { return h[i].due < h[j].due }

func (h timerHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = int32(i)
	h[j].index = int32(j)
}

func (h *timerHeap) push(t *task) {
	t.index = int32(len(*h))
	*h = append(*h, t)
	h.up(len(*h) - 1)
}

// popMin removes and returns the earliest task.
func (h *timerHeap) popMin() *task {
	return h.remove(0)
}

// remove removes the task at index i.
func (h *timerHeap) remove(i int) *task {
	old := *h
	n := len(old) - 1
	t := old[i]
	if i != n {
		h.swap(i, n)
	}
	old[n] = nil
	*h = old[:n]
	if i != n {
		if !h.down(i) {
			h.up(i)
		}
	}
	t.index = -1
	if n == 0 && cap(old) > 1024 {
		*h = nil // let a burst's array go
	}
	return t
}

func (h timerHeap) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		j = i
	}
}

func (h timerHeap) down(i int) bool {
	start := i
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		j := l
		if r := l + 1; r < n && h.less(r, l) {
			j = r
		}
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > start
}
