package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"aiservice/service/internal/tokens"
	"aiservice/service/internal/translate"
	"aiservice/service/internal/wire"
)

// chunksFromEvents is an Anthropic event stream read as chat chunks.
type chunksFromEvents struct {
	inner RawStream
	t     *translate.EventTranslator
	buf   []byte
}

func (s *chunksFromEvents) NextRaw() ([]byte, error) {
	for {
		raw, err := s.inner.NextRaw()
		if err != nil {
			return nil, err
		}
		var ev wire.AEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, invalid("stream event")
		}
		if c := s.t.Event(&ev); c != nil {
			s.buf, _ = json.Marshal(c)
			return s.buf, nil
		}
	}
}

func (s *chunksFromEvents) Next() (*wire.Chunk, error) {
	b, err := s.NextRaw()
	if err != nil {
		return nil, err
	}
	return DecodeChunk("", b)
}

func (s *chunksFromEvents) Ready() bool         { return s.inner.Ready() }
func (s *chunksFromEvents) Close() error        { return s.inner.Close() }
func (s *chunksFromEvents) LastRead() time.Time { return s.inner.LastRead() }

// eventsFromChunks is a chat stream read as Anthropic events: a chunk may make several events,
// which come out one per NextRaw.
type eventsFromChunks struct {
	inner   Stream
	t       *translate.ChunkTranslator
	pending []wire.AEvent
	ended   bool
	buf     []byte
}

func (s *eventsFromChunks) NextRaw() ([]byte, error) {
	for len(s.pending) == 0 {
		if s.ended {
			return nil, io.EOF
		}
		c, err := s.inner.Next()
		if errors.Is(err, io.EOF) {
			s.ended, s.pending = true, s.t.End()
			break
		}
		if err != nil {
			return nil, err
		}
		s.pending = s.t.Chunk(c)
	}
	ev := s.pending[0]
	s.pending = s.pending[1:]
	var err error
	if s.buf, err = json.Marshal(&ev); err != nil {
		return nil, fmt.Errorf("encode stream event: %w", err)
	}
	return s.buf, nil
}

func (s *eventsFromChunks) Ready() bool         { return len(s.pending) > 0 || s.inner.Ready() }
func (s *eventsFromChunks) Close() error        { return s.inner.Close() }
func (s *eventsFromChunks) LastRead() time.Time { return s.inner.LastRead() }

// The OpenAI client serves Anthropic's Messages by translation.

// Native implements Messenger.
func (p *OpenAI) Native() bool { return false }

// MessagesRaw implements Messenger: the request as a chat completion, its answer as a message.
func (p *OpenAI) MessagesRaw(ctx context.Context, req *wire.MessagesRequest) ([]byte, error) {
	creq, err := translate.ChatFromMessages(req, p.cfg.Translate)
	if err != nil {
		return nil, err
	}
	resp, err := p.Chat(ctx, creq)
	if err != nil {
		return nil, err
	}
	m, err := translate.MessageFromChat(resp, req.Model)
	if err != nil {
		return nil, invalid("chat completion: " + err.Error())
	}
	return json.Marshal(m)
}

// MessagesStream implements Messenger.
func (p *OpenAI) MessagesStream(ctx context.Context, req *wire.MessagesRequest) (RawStream, error) {
	creq, err := translate.ChatFromMessages(req, p.cfg.Translate)
	if err != nil {
		return nil, err
	}
	inner, err := p.ChatStream(ctx, creq)
	if err != nil {
		return nil, err
	}
	return &eventsFromChunks{inner: inner, t: translate.NewChunkTranslator(req.Model, promptEstimate(creq))}, nil
}

// CountTokensRaw implements Messenger. OpenAI has no such route: the count is the gateway's
// estimate of the translated prompt and tools.
func (p *OpenAI) CountTokensRaw(_ context.Context, req *wire.MessagesRequest) ([]byte, error) {
	creq, err := translate.ChatFromMessages(req, p.cfg.Translate)
	if err != nil {
		return nil, err
	}
	return json.Marshal(wire.CountTokensResponse{InputTokens: promptEstimate(creq)})
}

// promptEstimate is the gateway's estimate of a chat request's input tokens, tools included.
func promptEstimate(creq *wire.ChatRequest) int {
	texts := make([]string, 0, len(creq.Messages)+len(creq.Tools))
	for _, m := range creq.Messages {
		texts = append(texts, m.Content.Text)
	}
	for _, t := range creq.Tools {
		texts = append(texts, t.Function.Name+t.Function.Description+string(t.Function.Parameters))
	}
	return tokens.Prompt(texts)
}
