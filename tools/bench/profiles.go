package main

import (
	"encoding/json"
	"fmt"
	"log"
	"strings"
	"time"
)

// profile is one kind of load: an upstream, the request bodies, and whether the figures are
// request figures or held paced streams.
type profile struct {
	name     string
	upstream []string // "sim" for `aiservice sim`, else this binary's arguments for the fixture
	bodies   [][]byte
	held     bool
}

// promptSizes mixes prompts from 0.5 to 2 KB.
var promptSizes = []int{512, 768, 1024, 1280, 1536, 1792, 2048}

// chatBody is a chat completions request with a prompt of about size bytes; seed varies the
// words so the fixture's answer sizes mix.
func chatBody(size, seed int, stream bool) []byte {
	words := []string{"please", "summarise", "the", "following", "report", "about", "gateway", "latency", "and", "memory"}
	var sb strings.Builder
	for i := 0; sb.Len() < size; i++ {
		sb.WriteString(words[(i*7+seed)%len(words)])
		sb.WriteByte(' ')
	}
	req := map[string]any{"model": "gpt-4o-mini", "messages": []map[string]string{
		{"role": "system", "content": "You are a concise assistant."},
		{"role": "user", "content": sb.String()[:size]},
	}}
	if stream {
		req["stream"] = true
		req["stream_options"] = map[string]bool{"include_usage": true}
	}
	b, _ := json.Marshal(req) // maps of strings always marshal
	return b
}

func realisticBodies(stream bool) [][]byte {
	var out [][]byte
	for i, s := range promptSizes {
		out = append(out, chatBody(s, i, stream))
	}
	return out
}

func profiles(o options) []profile {
	fixture := func(chunks int, gap time.Duration) []string {
		return []string{"fixture", "127.0.0.1:0", fmt.Sprint(chunks), gap.String()}
	}
	return []profile{
		{name: "sim", upstream: []string{"sim"},
			bodies: [][]byte{[]byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello, how are you today?"}]}`)}},
		{name: "realistic", upstream: fixture(o.chunks, o.chunkGap), bodies: realisticBodies(false)},
		{name: "paced-streams", upstream: fixture(o.chunks, o.chunkGap), bodies: realisticBodies(true), held: true},
	}
}

// measureRequests runs the request figures on every path, in rounds of rotating order: req/s and CPU
// per request at c=16, p50 at c=1, and latency at a fixed rate. Every path is warmed up first,
// unrecorded, so the first round does not measure pool and connection setup.
func measureRequests(o options, p profile, ts []target, res *profileResult) {
	bs := &bodies{all: p.bodies}
	warm := max(300*time.Millisecond, o.duration/3)
	for _, t := range ts {
		closedLoop("http://"+t.addr+"/v1/chat/completions", bs, 16, warm)
	}
	log.Printf("%s: warmed up %d paths, %v each at c=16", p.name, len(ts), warm)
	for r := range o.rounds {
		for _, t := range roundOrder(p.name, r, o.rounds, ts) {
			u := "http://" + t.addr + "/v1/chat/completions"
			debug := t.debugAddr
			if r > 0 {
				debug = "" // one profile per path is enough
			}
			top := profiler{o.pprof}.during(debug, p.name+"-"+t.name+"-c16", time.Now(), o.duration)
			meter := meterAllocations(t)
			cpu0 := cpuSeconds(t.pid)
			rps, _, f16 := closedLoop(u, bs, 16, o.duration)
			cpu := cpuSeconds(t.pid) - cpu0
			res.addTop(t.name+" c16", top())
			res.add(t.name, "rps_c16", rps)
			n := rps * o.duration.Seconds()
			res.add(t.name, "cpu_us_per_req_c16", ratio(cpu, n)*1e6)
			if allocs, bytes, ok := meter.per(n); ok {
				res.add(t.name, "allocs_per_req_c16", allocs)
				res.add(t.name, "alloc_kib_per_req_c16", bytes/1024)
			}
			_, lat1, f1 := closedLoop(u, bs, 1, o.duration)
			res.add(t.name, "p50_ms_c1", quantileMS(lat1, 0.5))
			latR, fR := openLoop(u, bs, o.rate, o.duration)
			rate := fmt.Sprint(o.rate)
			res.add(t.name, "p50_ms_at_"+rate, quantileMS(latR, 0.5))
			res.add(t.name, "p99_ms_at_"+rate, quantileMS(latR, 0.99))
			res.add(t.name, "p99.9_ms_at_"+rate, quantileMS(latR, 0.999))
			res.add(t.name, "refused", float64(f16.refused.Load()+f1.refused.Load()+fR.refused.Load()))
			res.add(t.name, "errors", float64(f16.errors.Load()+f1.errors.Load()+fR.errors.Load()))
			res.add(t.name, "rss_mib", memoryMiB(t.pid).rss)
			log.Printf("%s round %d/%d %s: %.0f req/s at c=16", p.name, r+1, o.rounds, t.name, rps)
		}
	}
}

// measureHeld holds each level of concurrent paced streams on every path in turn. A level the
// file-descriptor limit cannot carry is skipped with the reason, never reported short.
func measureHeld(o options, p profile, ts []target, res *profileResult) {
	streamLen := time.Duration(o.chunks) * o.chunkGap
	bs := &bodies{all: p.bodies}
	for _, n := range o.levels {
		// The load generator holds n sockets; a gateway holds n downstream and n upstream.
		lim, err := raiseNoFile(uint64(2*n + 256))
		if err != nil {
			res.skip(fmt.Sprint(n), err.Error())
			log.Printf("%s: NOT measuring %d held streams: %v", p.name, n, err)
			continue
		}
		res.Limits = fmt.Sprintf("RLIMIT_NOFILE %d", lim)
		for r := range o.holdRounds {
			for _, t := range roundOrder(fmt.Sprintf("%s %d streams", p.name, n), r, o.holdRounds, ts) {
				key := fmt.Sprintf("%s %d", t.name, n)
				top := profiler{o.pprof}.during(t.debugAddr, strings.ReplaceAll(p.name+"-"+key, " ", "-"), time.Now().Add(streamLen), o.hold/2)
				meter := meterAllocations(t)
				h := hold("http://"+t.addr+"/v1/chat/completions", bs, n, o.chunks, o.hold, streamLen, t.pid)
				h.addTo(res, t.name, n)
				if allocs, bytes, ok := meter.per(float64(h.chunks)); ok {
					// Stream setup is spread over its chunks: what a held stream costs the GC.
					res.add(t.name, fmt.Sprintf("allocs_per_chunk_%d", n), allocs)
					res.add(t.name, fmt.Sprintf("alloc_b_per_chunk_%d", n), bytes)
				}
				res.addTop(key, top())
				log.Printf("%s %d streams round %d/%d %s: held %.0f (min %.0f), refused %d, errors %d, %.2f cores, RSS %.0f MiB",
					p.name, n, r+1, o.holdRounds, t.name, h.held, h.heldMin, h.refused, h.errors, h.cores, h.rss)
			}
		}
	}
}

// roundOrder is the paths of round r, rotated by r: the machine drifts within a round (and from
// round to round), so a fixed order would give the same path the same part of every round. Over
// a multiple of len(ts) rounds every path takes every position equally often; the order is
// logged so a reader can match a slow round to its place.
func roundOrder(what string, r, rounds int, ts []target) []target {
	order := rotated(ts, r)
	names := make([]string, len(order))
	for i, t := range order {
		names[i] = t.name
	}
	log.Printf("%s round %d/%d order: %s", what, r+1, rounds, strings.Join(names, ", "))
	if r == 0 && len(ts) > 0 && rounds%len(ts) != 0 {
		log.Printf("%s: %d rounds for %d paths: not every path takes every position equally often", what, rounds, len(ts))
	}
	return order
}

func (h holdResult) addTo(res *profileResult, path string, n int) {
	s := fmt.Sprintf("_%d", n)
	first, gap := h.firstChunk.merged(), h.gap.merged()
	res.add(path, "held"+s, h.held)
	res.add(path, "held_min"+s, h.heldMin)
	res.add(path, "refused"+s, float64(h.refused))
	res.add(path, "errors"+s, float64(h.errors))
	res.add(path, "streams"+s, float64(h.streams))
	res.add(path, "cores"+s, h.cores)
	res.add(path, "millicores_per_held_stream"+s, ratio(h.cores*1000, h.held))
	res.add(path, "rss_mib"+s, h.rss)
	res.add(path, "hwm_mib"+s, h.hwm)
	res.add(path, "first_chunk_p50_ms"+s, quantileMS(first, 0.5))
	res.add(path, "first_chunk_p99_ms"+s, quantileMS(first, 0.99))
	res.add(path, "gap_p50_ms"+s, quantileMS(gap, 0.5))
	res.add(path, "gap_p99_ms"+s, quantileMS(gap, 0.99))
}
