package sim

import (
	"encoding/base64"
	"encoding/binary"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strings"
	"unicode"
)

// Embedding is the simulator's embedding of a text: a deterministic unit vector of dims
// components. Texts are hashed into the vector by their words and character trigrams (signed
// feature hashing), with a little noise seeded by the whole text, so the same text always gives
// the same vector and texts that share words lie closer than unrelated ones — enough for a RAG
// test's nearest-neighbour search to behave, unlike random vectors.
func Embedding(text string, dims int) []float32 {
	v := make([]float64, dims)
	add := func(feature string, weight float64) {
		h := fnv.New64a()
		h.Write([]byte(feature))
		x := h.Sum64()
		sign := 1.0
		if x>>63 == 1 {
			sign = -1
		}
		v[x%uint64(dims)] += sign * weight
	}
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) }) {
		add("w:"+w, 2)
		r := []rune("^" + w + "$")
		for i := 0; i+3 <= len(r); i++ {
			add("t:"+string(r[i:i+3]), 1)
		}
	}
	h := fnv.New64a()
	h.Write([]byte(text))
	rng := rand.New(rand.NewPCG(h.Sum64(), 0xe4bed))
	for i := range v {
		v[i] += rng.NormFloat64() * 0.05
	}
	var norm float64
	for _, x := range v {
		norm += x * x
	}
	norm = math.Sqrt(norm)
	out := make([]float32, dims)
	for i, x := range v {
		out[i] = float32(x / norm)
	}
	return out
}

// EncodeBase64 is OpenAI's encoding_format "base64": the float32 components little-endian,
// base64-encoded.
func EncodeBase64(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return base64.StdEncoding.EncodeToString(b)
}
