module aiservice/dashboards

go 1.26.8

require (
	github.com/grafana/grafana-foundation-sdk/go v0.0.22 // indirect
	github.com/prometheus/prometheus v0.316.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
