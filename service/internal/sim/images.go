package sim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strconv"
	"strings"
	"time"

	"aiservice/service/internal/wire"
)

func (s *Server) imagesHandler(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	var req wire.ImageRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&req); err != nil {
		badRequest(w, "invalid JSON body: "+err.Error())
		return
	}
	width, height, ok := wire.ParseSize(req.Size)
	switch {
	case strings.TrimSpace(req.Prompt) == "":
		badRequest(w, "prompt is required")
		return
	case !ok:
		badRequest(w, "size must be WIDTHxHEIGHT, e.g. 1024x1024")
		return
	case req.Count() < 1 || req.Count() > 10:
		badRequest(w, "n must be between 1 and 10")
		return
	}
	s.images.Add(1)
	c, _, ok := s.begin(w, r, req.Model)
	defer c.end()
	if !ok {
		return
	}
	resp := wire.ImageResponse{Created: time.Now().Unix()}
	for i := 0; i < req.Count(); i++ {
		img, err := Render(req.Prompt, i, width, height)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "server_error", err.Error(), 0)
			return
		}
		enc := base64.StdEncoding.EncodeToString(img)
		d := wire.ImageData{RevisedPrompt: req.Prompt}
		if req.ResponseFormat == "url" {
			d.URL = "data:image/png;base64," + enc
		} else {
			d.B64JSON = enc
		}
		resp.Data = append(resp.Data, d)
	}
	writeJSON(w, http.StatusOK, resp)
	c.completed = true
}

// Render draws a deterministic PNG for a prompt: bands of colour derived from the prompt's hash.
// A paletted image keeps encoding fast even at 1792x1024.
func Render(prompt string, index, width, height int) ([]byte, error) {
	h := seed(prompt, strconv.Itoa(index))
	palette := make(color.Palette, 8)
	for i := range palette {
		v := h >> (i * 8)
		palette[i] = color.RGBA{R: uint8(v), G: uint8(v >> 16), B: uint8(v >> 32), A: 255}
	}
	img := image.NewPaletted(image.Rect(0, 0, width, height), palette)
	band := max(height/8, 1)
	for y := 0; y < height; y++ {
		idx := uint8((y / band) % len(palette))
		row := img.Pix[y*img.Stride : y*img.Stride+width]
		for x := range row {
			row[x] = idx
			if (x/band)%2 == 1 {
				row[x] = (idx + 1) % uint8(len(palette))
			}
		}
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("encode png: %w", err)
	}
	return buf.Bytes(), nil
}
