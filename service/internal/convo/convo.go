package convo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"aiservice/service/internal/translate"
	"aiservice/service/internal/wire"
)

// Record is one stored response: the response as answered, the input items of its request,
// and the conversation a follow-up continues (the earlier turns, this input and this output).
type Record struct {
	Response     wire.Response    `json:"response"`
	Input        []wire.InputItem `json:"input"`
	Conversation []wire.InputItem `json:"conversation"`
}

// NewRecord is the record of a finished response: its input items with ids (OpenAI gives
// every stored item one) and the conversation prior continued, with this turn added.
func NewRecord(req *wire.ResponsesRequest, prior []wire.InputItem, resp *wire.Response) *Record {
	input := req.Input.AsItems()
	withIDs := make([]wire.InputItem, len(input))
	for i, it := range input {
		if it.Type == "" {
			it.Type = it.Kind()
		}
		if it.ID == "" {
			it.ID = translate.ItemID(resp.ID+"_in", "msg", i)
		}
		withIDs[i] = it
	}
	conv := append(append(append([]wire.InputItem{}, prior...), withIDs...), translate.Items(resp.Output)...)
	return &Record{Response: *resp, Input: withIDs, Conversation: conv}
}

// Log stores Records in a Store under their response id.
type Log struct {
	store Store
	ttl   time.Duration
}

// NewLog keeps records in store for ttl.
func NewLog(store Store, ttl time.Duration) *Log { return &Log{store: store, ttl: ttl} }

// key namespaces the ids, so a shared store can hold other things too.
func key(id string) string { return "response:" + id }

// Save stores a record.
func (l *Log) Save(ctx context.Context, r *Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode stored response: %w", err)
	}
	if err := l.store.Put(ctx, key(r.Response.ID), b, l.ttl); err != nil {
		return fmt.Errorf("store response: %w", err)
	}
	return nil
}

// Load reads a record; ErrNotFound when it is unknown, deleted or expired.
func (l *Log) Load(ctx context.Context, id string) (*Record, error) {
	b, err := l.store.Get(ctx, key(id))
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("read stored response: %w", err)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode stored response: %w", err)
	}
	return &r, nil
}

// Delete removes a record; ErrNotFound when there was none.
func (l *Log) Delete(ctx context.Context, id string) error {
	if err := l.store.Delete(ctx, key(id)); err != nil {
		if errors.Is(err, ErrNotFound) {
			return err
		}
		return fmt.Errorf("delete stored response: %w", err)
	}
	return nil
}

// RefError is an item_reference that names no stored item (Err is ErrNotFound) or could not be
// read.
type RefError struct {
	Index int    // the item's place in the input
	ID    string // the id it references
	Err   error
}

func (e *RefError) Error() string { return fmt.Sprintf("input[%d]: item %q: %v", e.Index, e.ID, e.Err) }
func (e *RefError) Unwrap() error { return e.Err }

// Resolve returns req with its item_reference items replaced by the stored items they name
// (req itself when it has none). An item's id names the response it belongs to
// (translate.ItemID), so no index of items is kept.
func (l *Log) Resolve(ctx context.Context, req *wire.ResponsesRequest) (*wire.ResponsesRequest, error) {
	if !slices.ContainsFunc(req.Input.Items, func(it wire.InputItem) bool { return it.Type == "item_reference" }) {
		return req, nil
	}
	out := *req
	out.Input = wire.ResponseInput{Items: make([]wire.InputItem, 0, len(req.Input.Items)), Set: true}
	for i, it := range req.Input.Items {
		if it.Type == "item_reference" {
			found, err := l.item(ctx, it.ID)
			if err != nil {
				return nil, &RefError{Index: i, ID: it.ID, Err: err}
			}
			it = found
		}
		out.Input.Items = append(out.Input.Items, it)
	}
	return &out, nil
}

// item finds a stored item by its id.
func (l *Log) item(ctx context.Context, id string) (wire.InputItem, error) {
	resp, ok := translate.ResponseOfItem(id)
	if !ok {
		return wire.InputItem{}, ErrNotFound
	}
	rec, err := l.Load(ctx, resp)
	if err != nil {
		return wire.InputItem{}, err
	}
	for _, it := range rec.Conversation {
		if it.ID == id {
			return it, nil
		}
	}
	return wire.InputItem{}, ErrNotFound
}
