package keyrate

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// Table writes one Markdown table per kind of throttle: a row per host and
// variant, with the share of capacity used, the share of requests
// throttled, the requests sent and the completion time.
func Table(w io.Writer, cells []Cell) {
	throttles, variants := axes(cells)
	at := index(cells)
	for i, th := range throttles {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "Over capacity: %s\n\n", th)
		fmt.Fprintln(w, "| host | variant | capacity used | throttled | requests | last success (s) |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|")
		for _, h := range Hosts {
			for _, v := range variants {
				c, ok := at[key{v, th, h.Name}]
				if !ok {
					continue
				}
				fmt.Fprintf(w, "| %s (%g/s) | %s | %.0f%% | %.1f%% | %.0f | %.1f |\n",
					h.Name, h.Capacity, v, 100*c.Goodput, 100*c.Throttled, c.Attempts, c.Completion.Seconds())
			}
		}
	}
}

// Goal is one of the goals, checked on one cell.
type Goal struct {
	Throttle, Host string
	Throttled      float64 // share of requests throttled; goal: <= MaxThrottled
	Goodput        float64 // share of capacity used; goal: >= MinGoodput
}

// The goals for per-key adaptive rates.
const (
	MaxThrottled = 0.05
	MinGoodput   = 0.85
)

// Met reports whether both goals hold.
func (g Goal) Met() bool { return g.Throttled <= MaxThrottled && g.Goodput >= MinGoodput }

// Goals returns the goals checked for variant (per host, per kind of
// throttle).
func Goals(cells []Cell, variant string) []Goal {
	var gs []Goal
	for _, c := range cells {
		if c.Variant == variant {
			gs = append(gs, Goal{c.Throttle, c.Host.Name, c.Throttled, c.Goodput})
		}
	}
	return gs
}

// GoalTable writes the goals of variant as a Markdown table.
func GoalTable(w io.Writer, cells []Cell, variant string) {
	fmt.Fprintf(w, "| over capacity | host | throttled (goal <= %.0f%%) | capacity used (goal >= %.0f%%) | met |\n", 100*MaxThrottled, 100*MinGoodput)
	fmt.Fprintln(w, "|---|---|---:|---:|---|")
	for _, g := range Goals(cells, variant) {
		mark := "yes"
		if !g.Met() {
			mark = "**no**"
		}
		fmt.Fprintf(w, "| %s | %s | %.1f%% | %.0f%% | %s |\n", g.Throttle, g.Host, 100*g.Throttled, 100*g.Goodput, mark)
	}
}

// Slowdown writes, per kind of throttle and host, the completion time
// under one client-wide limiter next to per-key limiters and to the
// host's own floor (its jobs at its capacity).
func Slowdown(w io.Writer, cells []Cell, clientWide, perKey string, jobsPerHost int) {
	throttles, _ := axes(cells)
	at := index(cells)
	fmt.Fprintf(w, "| over capacity | host | floor: jobs / capacity (s) | %s (s) | %s (s) | slowdown |\n", perKey, clientWide)
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|")
	for _, th := range throttles {
		for _, h := range Hosts {
			cw, ok1 := at[key{clientWide, th, h.Name}]
			pk, ok2 := at[key{perKey, th, h.Name}]
			if !ok1 || !ok2 {
				continue
			}
			fmt.Fprintf(w, "| %s | %s (%g/s) | %.1f | %.1f | %.1f | %.1fx |\n", th, h.Name, h.Capacity,
				float64(jobsPerHost)/h.Capacity, pk.Completion.Seconds(), cw.Completion.Seconds(),
				cw.Completion.Seconds()/pk.Completion.Seconds())
		}
	}
}

// TraceTable writes a run's trace at the given times (the first sample at
// or after each): per host, the key's rate, and the requests and
// throttles per second over the sample's interval.
func TraceTable(w io.Writer, trace []Sample, interval time.Duration, times []time.Duration) {
	fmt.Fprint(w, "| t (s) |")
	for _, h := range Hosts {
		fmt.Fprintf(w, " %s: rate | sent/s | throttled/s |", h.Name)
	}
	fmt.Fprint(w, "\n|---:|")
	for range Hosts {
		fmt.Fprint(w, "---:|---:|---:|")
	}
	fmt.Fprintln(w)
	perSec := func(n int) float64 { return float64(n) / interval.Seconds() }
	i := 0
	for _, t := range times {
		for i < len(trace) && trace[i].At < t {
			i++
		}
		if i == len(trace) {
			break
		}
		s := trace[i]
		fmt.Fprintf(w, "| %g |", s.At.Seconds())
		for h := range Hosts {
			rate := "-"
			if s.Rate[h] > 0 {
				rate = fmt.Sprintf("%.1f", s.Rate[h])
			}
			fmt.Fprintf(w, " %s | %.0f | %.0f |", rate, perSec(s.Attempts[h]), perSec(s.Throttled[h]))
		}
		fmt.Fprintln(w)
	}
}

type key struct{ variant, throttle, host string }

func index(cells []Cell) map[key]Cell {
	m := make(map[key]Cell, len(cells))
	for _, c := range cells {
		m[key{c.Variant, c.Throttle, c.Host.Name}] = c
	}
	return m
}

// axes returns the kinds of throttle and the variants in first-seen order.
func axes(cells []Cell) (throttles, variants []string) {
	seenT, seenV := map[string]bool{}, map[string]bool{}
	for _, c := range cells {
		if !seenT[c.Throttle] {
			seenT[c.Throttle] = true
			throttles = append(throttles, c.Throttle)
		}
		if !seenV[c.Variant] {
			seenV[c.Variant] = true
			variants = append(variants, c.Variant)
		}
	}
	return throttles, variants
}

var palette = []string{"#7f7f7f", "#ff7f0e", "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b"}

// SVG writes the chart: for each kind of throttle (a row), two panels of
// grouped bars, the share of requests throttled and the share of capacity
// used, a group per host and a bar per variant.
func SVG(w io.Writer, cells []Cell, title string) {
	throttles, variants := axes(cells)
	at := index(cells)
	const width, panelW, panelH = 1000, 400, 230
	rowH := panelH + 90
	height := 60 + rowH*len(throttles) + 22*((len(variants)+1)/2) + 20
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="%d" y="22" text-anchor="middle" font-size="15">%s</text>`+"\n", width/2, esc(title))
	for r, th := range throttles {
		y := float64(60 + r*rowH)
		get := func(f func(Cell) float64) [][]float64 {
			vals := make([][]float64, len(Hosts))
			for i, h := range Hosts {
				for _, v := range variants {
					vals[i] = append(vals[i], f(at[key{v, th, h.Name}]))
				}
			}
			return vals
		}
		thr := get(func(c Cell) float64 { return 100 * c.Throttled })
		good := get(func(c Cell) float64 { return 100 * c.Goodput })
		bars(&b, frame{70, y, panelW, panelH}, fmt.Sprintf("%s: requests throttled", th), "% of requests", thr, 100*MaxThrottled, 100)
		bars(&b, frame{580, y, panelW, panelH}, fmt.Sprintf("%s: capacity used", th), "% of capacity over the busy period", good, 100*MinGoodput, 0)
	}
	// Legend, two to a row.
	ly := float64(60 + rowH*len(throttles) - 20)
	for i, v := range variants {
		x := 120 + float64(i%2)*420
		yy := ly + float64(i/2)*22
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="14" height="14" fill="%s"/>`, x, yy-11, palette[i%len(palette)])
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", x+20, yy, esc(v))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#555">dashed line: the goal for per-key adaptive rates</text>`+"\n", 120.0, ly+float64((len(variants)+1)/2)*22)
	b.WriteString("</svg>\n")
	io.WriteString(w, b.String())
}

type frame struct{ x, y, w, h float64 }

// bars draws one panel: vals[group][bar]; a dashed line at goal; the y
// axis up to top, or to the largest value rounded up when top is 0.
func bars(b *strings.Builder, f frame, title, ylabel string, vals [][]float64, goal, top float64) {
	if top == 0 {
		for _, g := range vals {
			for _, v := range g {
				top = max(top, v)
			}
		}
		top = max(100, math.Ceil(top/20)*20)
	}
	ymap := func(v float64) float64 { return f.y + f.h - min(v, top)/top*f.h }
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="14">%s</text>`+"\n", f.x+f.w/2, f.y-10, esc(title))
	step := 20.0
	for v := 0.0; v <= top+1e-9; v += step {
		y := ymap(v)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e5e5e5"/>`, f.x, y, f.x+f.w, y)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end">%g</text>`+"\n", f.x-6, y+4, v)
	}
	groupW := f.w / float64(len(vals))
	for gi, g := range vals {
		barW := groupW * 0.8 / float64(len(g))
		x0 := f.x + float64(gi)*groupW + groupW*0.1
		for bi, v := range g {
			y := ymap(v)
			fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%.1f%%</title></rect>`,
				x0+float64(bi)*barW, y, barW*0.92, f.y+f.h-y, palette[bi%len(palette)], v)
		}
		b.WriteString("\n")
		h := Hosts[gi]
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s (%g/s)</text>`+"\n", f.x+float64(gi)*groupW+groupW/2, f.y+f.h+18, esc(h.Name), h.Capacity)
	}
	gy := ymap(goal)
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#000" stroke-dasharray="5,4"/>`+"\n", f.x, gy, f.x+f.w, gy)
	fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#999"/>`+"\n", f.x, f.y, f.w, f.h)
	fmt.Fprintf(b, `<text transform="translate(%.1f %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", f.x-45, f.y+f.h/2, esc(ylabel))
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// BucketCell is one server bucket of the sensitivity sweep: a Cell per
// host.
type BucketCell struct {
	Bucket time.Duration
	Cells  []Cell
}

// BucketTable writes the sensitivity sweep: per bucket and host, the
// capacity used and the share throttled, beside OnePauseBound.
func BucketTable(w io.Writer, rows []BucketCell, jobsPerHost int, hint time.Duration) {
	fmt.Fprintf(w, "| server bucket | host | capacity used | one-pause bound | throttled | last success (s) |\n")
	fmt.Fprintf(w, "|---:|---|---:|---:|---:|---:|\n")
	for _, r := range rows {
		for _, c := range r.Cells {
			fmt.Fprintf(w, "| %v | %s (%g/s) | %.0f%% | %.0f%% | %.1f%% | %.1f |\n", r.Bucket, c.Host.Name, c.Host.Capacity,
				100*c.Goodput, 100*OnePauseBound(c.Host, jobsPerHost, r.Bucket, hint), 100*c.Throttled, c.Completion.Seconds())
		}
	}
}
