package main

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"strconv"
)

// chart is one profile drawn as panels of horizontal bars, one bar per path, so a reader sees
// the gap between the paths instead of parsing a table.
type chart struct {
	title  string
	panels []panel
}

type panel struct {
	title string // e.g. "req/s at c=16 (higher is better)"
	bars  []bar
}

type bar struct {
	label string
	value float64
	note  string // printed after the value, e.g. "512 of 1000 held"
}

const (
	svgWidth    = 760
	svgLabelW   = 170 // left column: the path's name
	svgBarMaxW  = 420
	svgBarH     = 16
	svgBarGap   = 4
	svgTitleH   = 22
	svgPanelGap = 14
)

// palette gives each bar position its colour, so a path keeps its colour across panels.
var palette = []string{"#7f7f7f", "#1f77b4", "#d62728", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b"}

// renderSVG draws a chart. Bars scale to the largest value of their panel; a value that is
// not a finite number or below 0 is drawn as an empty bar labelled "n/a".
func renderSVG(c chart) []byte {
	height := 40
	for _, p := range c.panels {
		height += svgTitleH + len(p.bars)*(svgBarH+svgBarGap) + svgPanelGap
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		svgWidth, height, svgWidth, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", svgWidth, height)
	fmt.Fprintf(&b, `<text x="10" y="24" font-size="16" font-weight="bold">%s</text>`+"\n", html.EscapeString(c.title))
	y := 40
	for _, p := range c.panels {
		fmt.Fprintf(&b, `<text x="10" y="%d" font-weight="bold">%s</text>`+"\n", y+15, html.EscapeString(p.title))
		y += svgTitleH
		top := 0.0
		for _, br := range p.bars {
			if drawable(br.value) {
				top = max(top, br.value)
			}
		}
		for i, br := range p.bars {
			w, text := 0, "n/a"
			if drawable(br.value) {
				text = formatValue(br.value)
				if top > 0 {
					w = int(math.Round(br.value / top * svgBarMaxW))
				}
			}
			if br.note != "" {
				text += " · " + br.note
			}
			fmt.Fprintf(&b, `<text x="10" y="%d">%s</text>`, y+12, html.EscapeString(br.label))
			fmt.Fprintf(&b, `<rect class="bar" x="%d" y="%d" width="%d" height="%d" fill="%s"/>`,
				svgLabelW, y, w, svgBarH, palette[i%len(palette)])
			fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", svgLabelW+w+6, y+12, html.EscapeString(text))
			y += svgBarH + svgBarGap
		}
		y += svgPanelGap
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

func drawable(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) && v >= 0 }

// formatValue keeps three significant digits: enough to see a gap, short enough to read.
func formatValue(v float64) string {
	switch {
	case v >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}
