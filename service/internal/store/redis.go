package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis keeps the state in Redis or Valkey, shared by every replica. Each reserve and each
// settle is one Lua script, so no check is ever separated from its increment. A key's limit
// state sits under one hash tag ({name}), so a script's keys share a Redis Cluster slot.
type Redis struct {
	c redis.UniversalClient
}

// NewRedis connects to a redis:// or rediss:// URL (nothing is sent until the first call);
// no call waits longer than timeout on the network, and each honours its context's deadline.
func NewRedis(url string, timeout time.Duration) (*Redis, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("store url: %w", err)
	}
	// Guarded bounds every call; go-redis's own retries would only stretch that bound.
	opt.MaxRetries = -1
	opt.ContextTimeoutEnabled = true
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout, opt.PoolTimeout = timeout, timeout, timeout, timeout
	return &Redis{c: redis.NewClient(opt)}, nil
}

// NewRedisCluster connects to a Redis or Valkey Cluster: the URL names one seed node, and
// `addr=host:port` parameters more (go-redis's cluster URL). The client learns the slots from
// the seeds and follows MOVED and ASK redirections, each call within timeout as for one server.
// Every script's keys share one hash tag, so each script runs on the one node of its slot.
func NewRedisCluster(url string, timeout time.Duration) (*Redis, error) {
	opt, err := redis.ParseClusterURL(url)
	if err != nil {
		return nil, fmt.Errorf("store url: %w", err)
	}
	opt.MaxRetries = -1 // as for one server; redirections are counted apart (MaxRedirects)
	opt.ContextTimeoutEnabled = true
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout, opt.PoolTimeout = timeout, timeout, timeout, timeout
	return &Redis{c: redis.NewClusterClient(opt)}, nil
}

// Close closes the connection pool.
func (r *Redis) Close() error { return r.c.Close() }

// limitKeys are a key's five limit keys: requests and tokens TAT, parallel slots, and the
// spend of the day and the month a time falls in.
func limitKeys(name string, p period) []string {
	pre := "aisvc:{" + name + "}:"
	return []string{pre + "rq", pre + "tk", pre + "par", pre + "d:" + p.day, pre + "m:" + p.month}
}

// reserveScript is Memory.Reserve in Lua; times are microseconds.
var reserveScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local rpm, tpm, maxpar = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local daily, monthly = tonumber(ARGV[5]), tonumber(ARGV[6])
local tokens, nano = tonumber(ARGV[7]), tonumber(ARGV[8])
local day_end, month_end = tonumber(ARGV[9]), tonumber(ARGV[10])
local W = 60000000
local function base(key)
  local tat = tonumber(redis.call('GET', key) or '0')
  return math.max(tat, now)
end
-- A fraction of a microsecond per unit for large limits: times are floats, not floored.
local function iv(limit) return W / limit end
local function fits(b, limit, n) return limit <= 0 or b + n * iv(limit) - now <= W end
local function wait(b, limit, n) return math.max(b + n * iv(limit) - now - W, 1000) end
local rq, tk = base(KEYS[1]), base(KEYS[2])
local par = tonumber(redis.call('GET', KEYS[3]) or '0')
local dspent = tonumber(redis.call('GET', KEYS[4]) or '0')
local mspent = tonumber(redis.call('GET', KEYS[5]) or '0')
local denied, retry = '', 0
if maxpar > 0 and par >= maxpar then denied, retry = 'parallel', 1000000
elseif not fits(rq, rpm, 1) then denied, retry = 'requests', wait(rq, rpm, 1)
elseif not fits(tk, tpm, tokens) then denied, retry = 'tokens', wait(tk, tpm, tokens)
elseif daily > 0 and dspent + nano > daily then denied, retry = 'daily_budget', day_end - now
elseif monthly > 0 and mspent + nano > monthly then denied, retry = 'monthly_budget', month_end - now
else
  if rpm > 0 then
    rq = rq + iv(rpm)
    redis.call('SET', KEYS[1], rq, 'PX', math.floor((rq - now) / 1000) + 1)
  end
  if tpm > 0 then
    tk = tk + tokens * iv(tpm)
    redis.call('SET', KEYS[2], tk, 'PX', math.floor((tk - now) / 1000) + 1)
  end
  redis.call('INCR', KEYS[3])
  redis.call('PEXPIRE', KEYS[3], ARGV[11])
  dspent = redis.call('INCRBY', KEYS[4], nano)
  redis.call('PEXPIREAT', KEYS[4], math.floor(day_end / 1000) + 3600000)
  mspent = redis.call('INCRBY', KEYS[5], nano)
  redis.call('PEXPIREAT', KEYS[5], math.floor(month_end / 1000) + 86400000)
end
local function remaining(b, limit)
  if limit <= 0 then return 0 end
  return math.max(math.floor((W - (b - now)) / iv(limit)), 0)
end
local rd, rm = -1, -1
if daily > 0 then rd = math.max(daily - dspent, 0) end
if monthly > 0 then rm = math.max(monthly - mspent, 0) end
return {denied, retry, remaining(rq, rpm), rq - now, remaining(tk, tpm), tk - now, rd, rm}
`)

// settleScript is Memory.Settle in Lua. A period key that expired meanwhile is left alone.
var settleScript = redis.NewScript(`
local now, tpm, dtok, dnano = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if tpm > 0 and dtok ~= 0 then
  local tat = redis.call('GET', KEYS[2])
  if tat then
    local t = tonumber(tat) + dtok * 60000000 / tpm
    if t > now then redis.call('SET', KEYS[2], t, 'PX', math.floor((t - now) / 1000) + 1)
    else redis.call('DEL', KEYS[2]) end
  end
end
for i = 4, 5 do
  if dnano ~= 0 and redis.call('EXISTS', KEYS[i]) == 1 then
    if redis.call('INCRBY', KEYS[i], dnano) < 0 then redis.call('SET', KEYS[i], 0, 'KEEPTTL') end
  end
end
if tonumber(redis.call('GET', KEYS[3]) or '0') > 0 then redis.call('DECR', KEYS[3]) end
return 1
`)

// Reserve runs the reserve script.
func (r *Redis) Reserve(ctx context.Context, res Reservation) (Verdict, error) {
	p := periodOf(res.Now)
	l := res.Limits
	out, err := reserveScript.Run(ctx, r.c, limitKeys(res.Key, p),
		res.Now.UnixMicro(), l.RPM, l.TPM, l.MaxParallel, l.DailyNanoUSD, l.MonthlyNanoUSD, res.Tokens, res.NanoUSD,
		p.dayEnd.UnixMicro(), p.monthEnd.UnixMicro(), parallelTTL.Milliseconds()).Slice()
	if err != nil {
		return Verdict{}, fmt.Errorf("redis reserve: %w", err)
	}
	if len(out) != 8 {
		return Verdict{}, errors.New("redis reserve: unexpected reply")
	}
	denied, _ := out[0].(string)
	n := make([]int64, 7)
	for i := range n {
		n[i], _ = out[i+1].(int64)
	}
	us := func(v int64) time.Duration { return time.Duration(max(v, 0)) * time.Microsecond }
	return Verdict{Denied: Denial(denied), RetryAfter: us(n[0]), RemainingRequests: n[1], ResetRequests: us(n[2]),
		RemainingTokens: n[3], ResetTokens: us(n[4]), RemainingDailyNanoUSD: n[5], RemainingMonthlyNanoUSD: n[6]}, nil
}

// Settle runs the settle script on the keys of the period the reservation was made in.
func (r *Redis) Settle(ctx context.Context, s Settlement) error {
	err := settleScript.Run(ctx, r.c, limitKeys(s.Key, periodOf(s.Reservation.Now)),
		s.Now.UnixMicro(), s.Limits.TPM, s.Tokens-s.Reservation.Tokens, s.NanoUSD-s.Reservation.NanoUSD).Err()
	if err != nil {
		return fmt.Errorf("redis settle: %w", err)
	}
	return nil
}

const bytesPrefix = "aisvc:b:"

// Get reads a value.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, bool, error) {
	b, err := r.c.Get(ctx, bytesPrefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("redis get: %w", err)
	}
	return b, true, nil
}

// Set writes a value with a time to live.
func (r *Redis) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := r.c.Set(ctx, bytesPrefix+key, value, ttl).Err(); err != nil {
		return fmt.Errorf("redis set: %w", err)
	}
	return nil
}

// Delete removes a value.
func (r *Redis) Delete(ctx context.Context, key string) error {
	if err := r.c.Del(ctx, bytesPrefix+key).Err(); err != nil {
		return fmt.Errorf("redis delete: %w", err)
	}
	return nil
}
