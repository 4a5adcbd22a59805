package main

import (
	"encoding/xml"
	"math"
	"strings"
	"testing"
)

type svgDoc struct {
	Rects []struct {
		Class string `xml:"class,attr"`
		Width int    `xml:"width,attr"`
	} `xml:"rect"`
	Texts []string `xml:"text"`
}

func TestRenderSVG(t *testing.T) {
	for _, tc := range []struct {
		name      string
		bars      []bar
		wantW     []int
		wantTexts []string
	}{
		{"bars scale to the largest", []bar{{label: "proxy", value: 100}, {label: "gateway", value: 50}},
			[]int{svgBarMaxW, svgBarMaxW / 2}, []string{"100.0", "50.00"}},
		{"not a number is drawn empty", []bar{{label: "direct", value: math.NaN()}, {label: "proxy", value: 2}},
			[]int{0, svgBarMaxW}, []string{"n/a", "2.00"}},
		{"all zero", []bar{{label: "a", value: 0}}, []int{0}, []string{"0"}},
		{"notes and escaping", []bar{{label: "<gw> & co", value: 1500, note: "refused 3"}},
			[]int{svgBarMaxW}, []string{"<gw> & co", "1500 · refused 3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := renderSVG(chart{title: "t", panels: []panel{{title: "p", bars: tc.bars}}})
			var doc svgDoc
			if err := xml.Unmarshal(out, &doc); err != nil {
				t.Fatalf("not XML: %v\n%s", err, out)
			}
			var widths []int
			for _, r := range doc.Rects {
				if r.Class == "bar" {
					widths = append(widths, r.Width)
				}
			}
			if len(widths) != len(tc.wantW) {
				t.Fatalf("%d bars, want %d", len(widths), len(tc.wantW))
			}
			for i := range widths {
				if widths[i] != tc.wantW[i] {
					t.Errorf("bar %d is %d wide, want %d", i, widths[i], tc.wantW[i])
				}
			}
			all := strings.Join(doc.Texts, "|")
			for _, w := range tc.wantTexts {
				if !strings.Contains(all, w) {
					t.Errorf("no text %q in %q", w, all)
				}
			}
		})
	}
}

func TestChartOfPanels(t *testing.T) {
	r := &profileResult{Name: "paced-streams", Paths: []string{"direct", "proxy", "gateway"}, Medians: map[string]map[string]float64{
		"direct": {"held_1000": 1000}, "proxy": {"held_1000": 1000}, "gateway": {"held_1000": 512, "refused_1000": 9730},
	}}
	c := chartOf(r, []int{1000, 5000}, 1000) // 5000 was not measured: no panels for it
	if len(c.panels) != 5 {
		t.Fatalf("%d panels, want 5 for one level", len(c.panels))
	}
	held := c.panels[0]
	if len(held.bars) != 3 || held.bars[2].value != 512 || !strings.Contains(held.bars[2].note, "refused 9730") {
		t.Errorf("held panel %+v", held)
	}
}
