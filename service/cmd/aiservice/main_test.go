package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestConfigCommand(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    string // in effective.sampler
		wantErr string
	}{
		{name: "development samples everything", env: map[string]string{}, want: "TraceIDRatioBased{1}"},
		{name: "production samples a tenth", env: map[string]string{"ENV": "production"}, want: "TraceIDRatioBased{0.1}"},
		{name: "the standard variable wins", env: map[string]string{"ENV": "production", "OTEL_TRACES_SAMPLER_ARG": "0.25"}, want: "TraceIDRatioBased{0.25}"},
		{name: "a bad sampler fails", env: map[string]string{"OTEL_TRACES_SAMPLER": "sometimes"}, wantErr: "OTEL_TRACES_SAMPLER"},
		{name: "a bad config fails", env: map[string]string{"AISERVICE_ADDR": "nowhere"}, wantErr: "addr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), []string{"config"}, func(k string) string { return tt.env[k] }, &out, &errOut)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Addr      string `json:"addr"`
				Effective struct{ Sampler string }
			}
			if err := json.Unmarshal(out.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if got.Addr != "127.0.0.1:8080" || !strings.Contains(got.Effective.Sampler, tt.want) {
				t.Errorf("addr %q, sampler %q, want %q", got.Addr, got.Effective.Sampler, tt.want)
			}
		})
	}
}

func TestConfigEnvListsEveryVariable(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"config", "--env"}, func(string) string { return "" }, &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"AISERVICE_ADDR", "AISERVICE_API_KEYS", "OTLP_ENDPOINT", "OTEL_TRACES_SAMPLER_ARG", "OPENAI_API_KEY", "AISERVICE_SHUTDOWN_GRACE_PERIOD"} {
		if !strings.Contains(out.String(), v+"\n") {
			t.Errorf("--env lacks %s:\n%s", v, out.String())
		}
	}
}

func TestHelpListsServeFlags(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"serve", "--help"}, {"-h"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out bytes.Buffer
			if err := run(context.Background(), args, func(string) string { return "" }, &out, &out); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"usage: aiservice", "-config string", "-max-streams string", "sets resilience.max_streams (also AISERVICE_MAX_STREAMS)"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("help lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

// `aiservice config` shows a balanced model's deployments with their defaults filled in.
func TestConfigShowsDeployments(t *testing.T) {
	var out, errOut bytes.Buffer
	env := map[string]string{"AISERVICE_CONFIG": "../../config.example.yaml"}
	if err := run(context.Background(), []string{"config"}, func(k string) string { return env[k] }, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Models []struct {
			Name        string `json:"name"`
			Policy      string `json:"policy"`
			Deployments []struct {
				Name   string `json:"name"`
				Weight int    `json:"weight"`
			} `json:"deployments"`
		} `json:"models"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for _, m := range got.Models {
		if m.Name != "gpt-4.1" {
			continue
		}
		if m.Policy != "latency" || len(m.Deployments) != 2 || m.Deployments[0].Weight != 3 || m.Deployments[1].Name != "sim-b" || m.Deployments[1].Weight != 1 {
			t.Errorf("gpt-4.1 shown as %+v", m)
		}
		return
	}
	t.Errorf("the example's balanced model gpt-4.1 is not in the output:\n%s", out.String())
}
