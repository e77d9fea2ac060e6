package contention

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// Table writes the cells as two Markdown tables (mean calls, mean time),
// one row per N and one column per variant.
func Table(w io.Writer, cells []Cell) {
	ns, names := axes(cells)
	at := index(cells)
	header := func(title string) {
		fmt.Fprintf(w, "%s\n\n| N |", title)
		for _, v := range names {
			fmt.Fprintf(w, " %s |", v)
		}
		fmt.Fprint(w, "\n|---:|")
		for range names {
			fmt.Fprint(w, "---:|")
		}
		fmt.Fprintln(w)
	}
	header("Calls (writes that reached the server), mean per run:")
	for _, n := range ns {
		fmt.Fprintf(w, "| %d |", n)
		for _, v := range names {
			fmt.Fprintf(w, " %.0f |", at[key{v, n}].Calls)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	header("Time until the last client's success reply (simulated ms), mean per run:")
	for _, n := range ns {
		fmt.Fprintf(w, "| %d |", n)
		for _, v := range names {
			fmt.Fprintf(w, " %.0f |", ms(at[key{v, n}].Time))
		}
		fmt.Fprintln(w)
	}
}

// Check is one of the published conclusions, tested on the cells.
type Check struct {
	Claim    string
	Measured string
	Holds    bool
}

// Checks tests the blog's conclusions at the largest N of the cells.
func Checks(cells []Cell) []Check {
	ns, _ := axes(cells)
	n := ns[len(ns)-1]
	at := index(cells)
	c := func(v string) float64 { return at[key{v, n}].Calls }
	t := func(v string) float64 { return float64(at[key{v, n}].Time) }
	slowest := true
	for _, v := range []string{"none", "full", "equal", "decorrelated"} {
		slowest = slowest && t("exponential") > 2*t(v)
	}
	return []Check{
		{
			Claim:    fmt.Sprintf("exponential without jitter is far the slowest (N=%d)", n),
			Measured: fmt.Sprintf("exponential %.0f ms; next slowest %.0f ms", t("exponential")/1e6, maxOf(t("none"), t("full"), t("equal"), t("decorrelated"))/1e6),
			Holds:    slowest,
		},
		{
			Claim:    fmt.Sprintf("exponential takes well over twice the calls of full jitter (N=%d)", n),
			Measured: fmt.Sprintf("exponential/full = %.2f", c("exponential")/c("full")),
			Holds:    c("exponential") > 2*c("full"),
		},
		{
			Claim:    fmt.Sprintf("full jitter cuts calls by more than half versus no jitter (N=%d)", n),
			Measured: fmt.Sprintf("full/exponential = %.2f, full/none = %.2f", c("full")/c("exponential"), c("full")/c("none")),
			Holds:    c("full") < c("exponential")/2 && c("full") < c("none")/2,
		},
		{
			Claim:    "full and equal take about the same number of calls (within 10%)",
			Measured: fmt.Sprintf("equal/full = %.2f", c("equal")/c("full")),
			Holds:    math.Abs(c("equal")/c("full")-1) <= 0.10,
		},
		{
			Claim:    "decorrelated takes more calls than full and equal",
			Measured: fmt.Sprintf("decorrelated/full = %.2f, decorrelated/equal = %.2f", c("decorrelated")/c("full"), c("decorrelated")/c("equal")),
			Holds:    c("decorrelated") > c("full") && c("decorrelated") > c("equal"),
		},
		{
			Claim:    "equal takes longer than full",
			Measured: fmt.Sprintf("equal/full time = %.2f", t("equal")/t("full")),
			Holds:    t("equal") > t("full"),
		},
		{
			Claim:    "full takes slightly more time than decorrelated",
			Measured: fmt.Sprintf("full/decorrelated time = %.2f", t("full")/t("decorrelated")),
			Holds:    t("full") > t("decorrelated"),
		},
	}
}

func maxOf(v ...float64) float64 {
	m := v[0]
	for _, x := range v[1:] {
		m = max(m, x)
	}
	return m
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

type key struct {
	variant string
	n       int
}

func index(cells []Cell) map[key]Cell {
	m := make(map[key]Cell, len(cells))
	for _, c := range cells {
		m[key{c.Variant, c.N}] = c
	}
	return m
}

// axes returns the Ns in increasing order and the variants in first-seen
// order.
func axes(cells []Cell) (ns []int, names []string) {
	seenN, seenV := map[int]bool{}, map[string]bool{}
	for _, c := range cells {
		if !seenN[c.N] {
			seenN[c.N] = true
			ns = append(ns, c.N)
		}
		if !seenV[c.Variant] {
			seenV[c.Variant] = true
			names = append(names, c.Variant)
		}
	}
	for i := range ns {
		for j := i; j > 0 && ns[j] < ns[j-1]; j-- {
			ns[j], ns[j-1] = ns[j-1], ns[j]
		}
	}
	return ns, names
}

var colors = map[string]string{
	"none":         "#7f7f7f",
	"exponential":  "#d62728",
	"full":         "#1f77b4",
	"equal":        "#2ca02c",
	"decorrelated": "#ff7f0e",
}

// SVG writes the chart: two panels, calls vs N and time vs N (time on a
// logarithmic axis, since exponential without jitter is an order of
// magnitude slower than the rest).
func SVG(w io.Writer, cells []Cell, title string) {
	ns, names := axes(cells)
	at := index(cells)
	const width, height = 1000, 470
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="%d" y="22" text-anchor="middle" font-size="15">%s</text>`+"\n", width/2, esc(title))

	series := func(f func(Cell) float64) map[string][]point {
		m := map[string][]point{}
		for _, v := range names {
			for _, n := range ns {
				if c, ok := at[key{v, n}]; ok {
					m[v] = append(m[v], point{float64(n), f(c)})
				}
			}
		}
		return m
	}
	xMax := float64(ns[len(ns)-1])
	calls := series(func(c Cell) float64 { return c.Calls })
	times := series(func(c Cell) float64 { return c.Time.Seconds() })
	panel(&b, frame{x: 70, y: 50, w: 380, h: 340}, "Calls (writes reaching the server)", "calls per run (mean)", names, calls, xMax, false)
	panel(&b, frame{x: 580, y: 50, w: 380, h: 340}, "Time until the last client succeeds", "simulated seconds (mean, log scale)", names, times, xMax, true)

	// Legend, centred under the panels.
	lx := float64(width)/2 - float64(len(names))*120/2
	for i, v := range names {
		x := lx + float64(i)*120
		fmt.Fprintf(&b, `<line x1="%.1f" y1="450" x2="%.1f" y2="450" stroke="%s" stroke-width="2.5"/>`, x, x+24, colors[v])
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="450" r="3" fill="%s"/>`, x+12, colors[v])
		fmt.Fprintf(&b, `<text x="%.1f" y="454">%s</text>`+"\n", x+30, esc(v))
	}
	b.WriteString("</svg>\n")
	io.WriteString(w, b.String())
}

type point struct{ x, y float64 }

type frame struct{ x, y, w, h float64 }

func panel(b *strings.Builder, f frame, title, ylabel string, names []string, data map[string][]point, xMax float64, logY bool) {
	yMin, yMax := math.Inf(1), 0.0
	for _, ps := range data {
		for _, p := range ps {
			yMin, yMax = min(yMin, p.y), max(yMax, p.y)
		}
	}
	var ticks []float64
	var ymap func(float64) float64
	if logY {
		lo := math.Pow(10, math.Floor(math.Log10(yMin)))
		hi := math.Pow(10, math.Ceil(math.Log10(yMax)))
		for d := lo; d <= hi*1.0001; d *= 10 {
			for _, m := range []float64{1, 2, 5} {
				if v := d * m; v <= hi*1.0001 {
					ticks = append(ticks, v)
				}
			}
		}
		ymap = func(v float64) float64 {
			return f.y + f.h - (math.Log10(v)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))*f.h
		}
	} else {
		step := niceStep(yMax / 6)
		top := math.Ceil(yMax/step) * step
		for v := 0.0; v <= top*1.0001; v += step {
			ticks = append(ticks, v)
		}
		ymap = func(v float64) float64 { return f.y + f.h - v/top*f.h }
	}
	xmap := func(v float64) float64 { return f.x + v/xMax*f.w }

	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="14">%s</text>`+"\n", f.x+f.w/2, f.y-10, esc(title))
	for _, v := range ticks {
		y := ymap(v)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e5e5e5"/>`, f.x, y, f.x+f.w, y)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", f.x-6, y+4, label(v))
	}
	for v := 0.0; v <= xMax; v += 10 {
		x := xmap(v)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#999"/>`, x, f.y+f.h, x, f.y+f.h+5)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x, f.y+f.h+18, label(v))
	}
	fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#999"/>`+"\n", f.x, f.y, f.w, f.h)
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">clients (N)</text>`+"\n", f.x+f.w/2, f.y+f.h+36)
	fmt.Fprintf(b, `<text transform="translate(%.1f %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", f.x-50, f.y+f.h/2, esc(ylabel))
	for _, v := range names {
		ps := data[v]
		var pts []string
		for _, p := range ps {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", xmap(p.x), ymap(p.y)))
		}
		fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2.5"/>`+"\n", strings.Join(pts, " "), colors[v])
		for _, p := range ps {
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`, xmap(p.x), ymap(p.y), colors[v])
		}
		b.WriteString("\n")
	}
}

// niceStep rounds s up to 1, 2 or 5 times a power of ten.
func niceStep(s float64) float64 {
	if s <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(s)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= s {
			return m * p
		}
	}
	return 10 * p
}

func label(v float64) string {
	if v >= 1 || v == 0 {
		return fmt.Sprintf("%g", math.Round(v*100)/100)
	}
	return fmt.Sprintf("%g", v)
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
