package launch

import (
	"fmt"
	"strings"
)

// Deployment is one upstream of a balanced model in a harness config: each gets a provider of
// its own named after it.
type Deployment struct {
	Name, URL string // URL: the upstream's base, without /v1
	Weight    int    // 0: the default
	Priority  int
}

// BalancedConfig is a service config YAML whose chat model gpt-4o-mini is spread over the
// deployments by policy, with extra YAML appended (resilience settings, latency_decay…).
func BalancedConfig(policy string, ds []Deployment, extra string) string {
	var b strings.Builder
	b.WriteString("providers:\n")
	for _, d := range ds {
		fmt.Fprintf(&b, "  - {name: %s, type: openai, base_url: %q}\n", d.Name, d.URL+"/v1")
	}
	fmt.Fprintf(&b, "models:\n  - name: gpt-4o-mini\n    policy: %s\n    deployments:\n", policy)
	for _, d := range ds {
		fmt.Fprintf(&b, "      - {provider: %s", d.Name)
		if d.Weight > 0 {
			fmt.Fprintf(&b, ", weight: %d", d.Weight)
		}
		if d.Priority > 0 {
			fmt.Fprintf(&b, ", priority: %d", d.Priority)
		}
		b.WriteString("}\n")
	}
	return b.String() + extra
}
