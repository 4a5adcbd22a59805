package launch

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a redis-server process on loopback (Debian's redis-server; `go tool task
// tools:redis` installs it).
type Redis struct {
	Addr  string // 127.0.0.1:PORT
	dir   string // its working directory: the append-only file lives there
	aof   bool
	extra []string // more redis-server arguments (cluster mode)
	cmd   *exec.Cmd
}

// StartRedis starts redis-server on a free loopback port with no persistence, or, with aof,
// with an append-only file (synced every second, and at a graceful stop: a restart by SIGTERM
// keeps everything it acknowledged).
// It is stopped when the test ends; without redis-server the test is skipped.
func StartRedis(t testing.TB, aof bool) *Redis {
	t.Helper()
	return startRedis(t, aof)
}

// startRedis is StartRedis with more redis-server arguments.
func startRedis(t testing.TB, aof bool, extra ...string) *Redis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not on PATH: go tool task tools:redis installs it")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &Redis{Addr: ln.Addr().String(), dir: t.TempDir(), aof: aof, extra: extra}
	_ = ln.Close()
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r
}

// URL is the redis:// URL of the server.
func (r *Redis) URL() string { return "redis://" + r.Addr }

// Start (re)starts the server on its port and waits until it answers PING.
func (r *Redis) Start() error {
	_, port, _ := net.SplitHostPort(r.Addr)
	args := []string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--dir", r.dir, "--loglevel", "warning"}
	if r.aof {
		args = append(args, "--appendonly", "yes", "--appendfsync", "everysec")
	} else {
		args = append(args, "--appendonly", "no")
	}
	args = append(args, r.extra...)
	r.cmd = exec.Command("redis-server", args...)
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if ping(r.Addr) {
			return nil
		}
	}
	return fmt.Errorf("redis-server on %s did not answer PING", r.Addr)
}

// Stop ends the server (SIGTERM: with aof, it finishes writing the file).
func (r *Redis) Stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = r.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = r.cmd.Process.Kill()
		<-done
	}
	r.cmd = nil
}

// RedisCluster is a Redis Cluster of three masters on loopback (redis-server in cluster mode,
// joined by redis-cli --cluster create), stopped when the test ends.
type RedisCluster struct {
	Nodes []*Redis
}

// StartRedisCluster starts three cluster-enabled servers, assigns them the 16,384 slots and
// waits until each sees the cluster whole. Without redis-server and redis-cli the test is
// skipped.
func StartRedisCluster(t testing.TB) *RedisCluster {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Skip("redis-cli not on PATH: go tool task tools:redis installs it")
	}
	c := &RedisCluster{}
	var addrs []string
	for range 3 {
		n := startRedis(t, false, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf") // in its --dir
		c.Nodes, addrs = append(c.Nodes, n), append(addrs, n.Addr)
	}
	create := exec.Command("redis-cli", append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")...)
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for deadline := time.Now().Add(10 * time.Second); !c.whole(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the cluster did not come whole (cluster_state:ok on every node)")
		}
	}
	return c
}

// URL is go-redis's cluster URL of the nodes: the first, and the others as addr parameters.
func (c *RedisCluster) URL() string {
	u := "redis://" + c.Nodes[0].Addr + "?"
	for i, n := range c.Nodes[1:] {
		if i > 0 {
			u += "&"
		}
		u += "addr=" + n.Addr
	}
	return u
}

func (c *RedisCluster) whole() bool {
	for _, n := range c.Nodes {
		cl := redis.NewClient(&redis.Options{Addr: n.Addr, MaxRetries: -1})
		info, err := cl.ClusterInfo(context.Background()).Result()
		_ = cl.Close()
		if err != nil || !strings.Contains(info, "cluster_state:ok") {
			return false
		}
	}
	return true
}

// Client is a go-redis client of the server, closed when the test ends.
func (r *Redis) Client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func ping(addr string) bool {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return c.Ping(ctx).Err() == nil
}
