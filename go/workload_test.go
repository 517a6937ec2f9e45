package tswal

// The benchmark workload of the project's own bench (benches/throughput/workload.rs,
// mirrored in benches/c/bench.c), generated the same way: the same PRNG, tables and
// order of draws, so the three write the same WAL and their numbers compare.
//
// Series 1..n get Prometheus-like label sets (8-12 labels, sorted by name). Each round
// gives every series one sample: a counter growing by a pseudo-random amount, at
// baseT + round*intervalMS plus a fixed per-series jitter of 0-9 ms.

import (
	"math/bits"
	"strconv"
)

const (
	baseT          = 1_700_000_000_000 // timestamp of round 0 (ms)
	intervalMS     = 15_000            // scrape interval (ms)
	batchSize      = 1_000             // samples per LogSamples call
	seriesPerEntry = 100               // series per LogSeries call

	golden      = 0x9E3779B97F4A7C15
	seedCounter = 0x636f756e74657221
	seedJitter  = 0x6a69747465722121
	seedMetric  = 0x6d65747269632121
	seedRate    = 0x7261746521212121
	seedRound   = 0x726f756e64212121
)

// mix is the splitmix64 finalizer.
func mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

func hash(x uint64) uint64 { return mix(x + golden) }

// rng is splitmix64.
type rng uint64

func (r *rng) next() uint64 {
	*r += golden
	return mix(uint64(*r))
}

func (r *rng) below(n int) int { return int(r.next() % uint64(n)) }

func (r *rng) pick(table []string) string { return table[r.below(len(table))] }

// roundTime is the timestamp of round before the per-series jitter.
func roundTime(round int) int64 { return baseT + int64(round)*intervalMS }

var (
	// labelNames are sorted, so label sets come out sorted, as Prometheus logs them.
	labelNames = []string{
		"__name__", "code", "container", "cpu", "device", "handler", "instance", "job", "le",
		"method", "mode", "namespace", "node", "pod", "region", "zone",
	}
	metrics = []string{
		"node_cpu_seconds_total", "node_memory_MemAvailable_bytes",
		"node_memory_MemTotal_bytes", "node_memory_Cached_bytes", "node_memory_Buffers_bytes",
		"node_filesystem_avail_bytes", "node_filesystem_size_bytes",
		"node_filesystem_files_free", "node_disk_read_bytes_total",
		"node_disk_written_bytes_total", "node_disk_io_time_seconds_total",
		"node_disk_reads_completed_total", "node_disk_writes_completed_total",
		"node_network_receive_bytes_total", "node_network_transmit_bytes_total",
		"node_network_receive_packets_total", "node_network_transmit_packets_total",
		"node_network_receive_errs_total", "node_load1", "node_load5", "node_load15",
		"node_context_switches_total", "node_intr_total", "node_forks_total",
		"node_procs_running", "node_procs_blocked", "node_boot_time_seconds",
		"node_time_seconds", "node_vmstat_pgfault", "node_vmstat_pgmajfault",
		"node_netstat_Tcp_CurrEstab", "node_sockstat_TCP_inuse", "node_filefd_allocated",
		"node_entropy_available_bits", "container_cpu_usage_seconds_total",
		"container_cpu_cfs_throttled_seconds_total", "container_cpu_cfs_periods_total",
		"container_memory_working_set_bytes", "container_memory_rss",
		"container_memory_cache", "container_memory_usage_bytes", "container_memory_failcnt",
		"container_network_receive_bytes_total", "container_network_transmit_bytes_total",
		"container_fs_reads_bytes_total", "container_fs_writes_bytes_total",
		"container_fs_usage_bytes", "container_last_seen",
		"container_spec_memory_limit_bytes", "container_spec_cpu_quota",
		"kube_pod_status_phase", "kube_pod_status_ready",
		"kube_pod_container_status_restarts_total", "kube_pod_container_status_running",
		"kube_pod_container_resource_requests", "kube_pod_container_resource_limits",
		"kube_pod_info", "kube_pod_owner", "kube_deployment_status_replicas",
		"kube_deployment_status_replicas_available", "kube_deployment_spec_replicas",
		"kube_node_status_condition", "kube_node_status_allocatable",
		"kube_node_status_capacity", "kube_replicaset_status_ready_replicas",
		"kube_service_info", "kubelet_running_pods", "kubelet_volume_stats_used_bytes",
		"kubelet_volume_stats_capacity_bytes", "apiserver_request_total",
		"apiserver_request_duration_seconds_bucket", "etcd_request_duration_seconds_bucket",
		"http_requests_total", "http_request_duration_seconds_bucket",
		"http_request_duration_seconds_sum", "http_request_duration_seconds_count",
		"http_request_size_bytes_bucket", "http_response_size_bytes_bucket",
		"http_server_requests_seconds_count", "grpc_server_handled_total",
		"grpc_server_handling_seconds_bucket", "grpc_server_started_total",
		"nginx_ingress_controller_requests",
		"nginx_ingress_controller_request_duration_seconds_bucket",
		"process_cpu_seconds_total", "process_resident_memory_bytes",
		"process_virtual_memory_bytes", "process_open_fds", "process_start_time_seconds",
		"go_goroutines", "go_threads", "go_gc_duration_seconds", "go_memstats_alloc_bytes",
		"go_memstats_heap_inuse_bytes", "prometheus_tsdb_head_series",
		"prometheus_tsdb_head_samples_appended_total", "prometheus_http_requests_total", "up",
		"scrape_duration_seconds", "scrape_samples_scraped",
	}
	codes = []string{
		"200", "201", "204", "301", "302", "304", "400", "401", "403", "404", "409", "429",
		"500", "503",
	}
	containers = []string{
		"api", "worker", "nginx", "envoy", "postgres", "redis", "kafka", "node-exporter",
		"kube-state-metrics", "prometheus", "grafana", "cert-manager",
	}
	devices = []string{
		"sda", "sdb", "nvme0n1", "nvme1n1", "vda", "dm-0", "eth0", "eth1", "ens5", "lo",
	}
	handlers = []string{
		"/api/v1/query", "/api/v1/query_range", "/api/v1/series", "/api/v1/labels",
		"/metrics", "/healthz", "/readyz", "/api/v2/orders/{id}", "/api/v2/users/{id}/cart",
		"/static/*filepath",
	}
	ports = []string{
		"9100", "8080", "9090", "10250", "443",
	}
	jobs = []string{
		"node-exporter", "kubelet", "cadvisor", "apiserver", "kube-state-metrics",
		"prometheus", "api", "ingress-nginx", "postgres-exporter", "redis-exporter",
	}
	les = []string{
		"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
	}
	methods = []string{
		"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD",
	}
	modes = []string{
		"user", "system", "idle", "iowait", "irq", "softirq", "steal", "nice",
	}
	namespaces = []string{
		"default", "kube-system", "monitoring", "payments", "checkout", "search", "ingress",
		"logging", "data", "auth",
	}
	deployments = []string{
		"api", "checkout", "payments", "search", "frontend", "cart", "auth", "inventory",
		"recommendation", "notification", "shipping", "gateway",
	}
	regions = []string{
		"us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1",
		"ap-northeast-1",
	}
	zones = []string{
		"us-east-1a", "us-east-1b", "us-east-1c", "eu-west-1a", "eu-west-1b", "eu-west-1c",
		"ap-southeast-1a", "ap-southeast-1b", "ap-southeast-1c",
	}
	// always are the indexes into labelNames every series has (8 labels).
	always = []int{0, 2, 6, 7, 11, 12, 13, 14}
	// optional are the indexes into labelNames a metric may add, 0-4 of them.
	optional = []int{1, 3, 4, 5, 8, 9, 10, 15}
)

// Indexes into labelNames.
const (
	lName = iota
	lCode
	lContainer
	lCPU
	lDevice
	lHandler
	lInstance
	lJob
	lLe
	lMethod
	lMode
	lNamespace
	lNode
	lPod
	lRegion
	lZone
)

// podChars is the alphabet of Kubernetes pod name suffixes.
const podChars = "bcdfghjklmnpqrstvwxz2456789"

// labelMask is the set of labelNames the series of metric carry.
func labelMask(metric int) uint32 {
	r := rng(hash(uint64(metric) ^ seedMetric))
	var mask uint32
	for _, i := range always {
		mask |= 1 << i
	}
	extra := r.below(5)
	for bits.OnesCount32(mask) < len(always)+extra {
		mask |= 1 << optional[r.below(len(optional))]
	}
	return mask
}

// appendOctets appends prefix and three pseudo-random octets separated by sep.
func appendOctets(out []byte, prefix string, sep byte, r *rng) []byte {
	a, b, c := r.below(256), r.below(256), r.below(256)
	out = append(out, prefix...)
	out = strconv.AppendInt(out, int64(a), 10)
	out = append(out, sep)
	out = strconv.AppendInt(out, int64(b), 10)
	out = append(out, sep)
	return strconv.AppendInt(out, int64(c), 10)
}

// appendValue appends the value of label labelNames[name] to out.
func appendValue(out []byte, name, metric int, r *rng) []byte {
	switch name {
	case lName:
		return append(out, metrics[metric]...)
	case lCode:
		return append(out, r.pick(codes)...)
	case lContainer:
		return append(out, r.pick(containers)...)
	case lCPU:
		return strconv.AppendInt(out, int64(r.below(64)), 10)
	case lDevice:
		return append(out, r.pick(devices)...)
	case lHandler:
		return append(out, r.pick(handlers)...)
	case lInstance:
		out = appendOctets(out, "10.", '.', r)
		out = append(out, ':')
		return append(out, r.pick(ports)...)
	case lJob:
		return append(out, r.pick(jobs)...)
	case lLe:
		return append(out, r.pick(les)...)
	case lMethod:
		return append(out, r.pick(methods)...)
	case lMode:
		return append(out, r.pick(modes)...)
	case lNamespace:
		return append(out, r.pick(namespaces)...)
	case lNode:
		out = appendOctets(out, "ip-10-", '-', r)
		return append(out, ".ec2.internal"...)
	case lPod:
		// e.g. api-7d9f8b6c5-x2k4j: deployment, replica set hash, pod suffix.
		out = append(out, r.pick(deployments)...)
		out = append(out, '-')
		hashLen := 9 + r.below(2)
		for i := 0; i < hashLen; i++ {
			out = append(out, podChars[r.below(len(podChars))])
		}
		out = append(out, '-')
		for i := 0; i < 5; i++ {
			out = append(out, podChars[r.below(len(podChars))])
		}
		return out
	case lRegion:
		return append(out, r.pick(regions)...)
	case lZone:
		return append(out, r.pick(zones)...)
	}
	panic("no generator for label " + labelNames[name])
}

// seriesBatch returns the series first..end-1 with their label sets.
func seriesBatch(first, end uint64) []RefSeries {
	type label struct{ name, start, end int }
	text := make([]byte, 0, 32<<10)
	pending := make([]label, 0, (end-first)*12)
	ends := make([]int, 0, end-first) // where each series' labels end in pending
	for ref := first; ref < end; ref++ {
		r := rng(hash(ref))
		metric := r.below(len(metrics))
		mask := labelMask(metric)
		for name := range labelNames {
			if mask&(1<<name) != 0 {
				start := len(text)
				text = appendValue(text, name, metric, &r)
				pending = append(pending, label{name, start, len(text)})
			}
		}
		ends = append(ends, len(pending))
	}
	s := string(text)
	all := make(Labels, len(pending))
	out := make([]RefSeries, 0, len(ends))
	next := 0
	for i, e := range ends {
		ls := all[next:e:e]
		for j, l := range pending[next:e] {
			ls[j] = Label{Name: labelNames[l.name], Value: s[l.start:l.end]}
		}
		out = append(out, RefSeries{Ref: first + uint64(i), Labels: ls})
		next = e
	}
	return out
}

// logAllSeries logs the series 1..n, seriesPerEntry per entry.
func logAllSeries(w *WAL, n uint64) error {
	for first := uint64(1); first <= n; first += seriesPerEntry {
		end := first + seriesPerEntry
		if end > n+1 {
			end = n + 1
		}
		if err := w.LogSeries(seriesBatch(first, end)); err != nil {
			return err
		}
	}
	return nil
}

// unit is a pseudo-random float in [0, 1) from h.
func unit(h uint64) float64 {
	return float64(int64(h>>11)) * (1.0 / 9_007_199_254_740_992.0)
}

// sampleStream hands out the samples of the series firstRef.. over rounds rounds,
// round by round, series by series within a round, in batches. Each series is a
// counter with its own rate; in each round every counter grows by its rate times a
// pseudo-random factor of that round.
type sampleStream struct {
	firstRef        uint64
	counters, rates []float64
	jitter          []int64
	rounds, round   int
	index           int
}

func newSampleStream(firstRef uint64, n, rounds int) *sampleStream {
	s := &sampleStream{
		firstRef: firstRef,
		counters: make([]float64, n),
		rates:    make([]float64, n),
		jitter:   make([]int64, n),
		rounds:   rounds,
	}
	for i := range s.counters {
		ref := firstRef + uint64(i)
		s.counters[i] = float64(hash(ref^seedCounter) % 1_000_000)
		s.rates[i] = unit(hash(ref^seedRate)) * 15.0
		s.jitter[i] = int64(hash(ref^seedJitter) % 10)
	}
	return s
}

// next returns the next batch in out's memory (its capacity must be batchSize or
// more); false when no samples are left.
func (s *sampleStream) next(out []RefSample) ([]RefSample, bool) {
	out = out[:batchSize]
	n := 0
	for n < batchSize && s.round < s.rounds && len(s.counters) > 0 {
		// The rest of this round, as far as the batch has room.
		take := batchSize - n
		if left := len(s.counters) - s.index; left < take {
			take = left
		}
		factor := 0.5 + unit(hash(uint64(s.round)^seedRound))
		fillRound(out[n:n+take], s.counters[s.index:], s.rates[s.index:], s.jitter[s.index:],
			s.firstRef+uint64(s.index), roundTime(s.round), factor)
		n += take
		s.index += take
		if s.index == len(s.counters) {
			s.index = 0
			s.round++
		}
	}
	return out[:n], n > 0
}

// fillRound fills dst with the samples of the series ref.. at t (plus their jitter),
// growing their counters (the first len(dst) of counters) by rate*factor. Not inlined:
// inside next its loop runs out of registers and takes twice as long.
//
//go:noinline
func fillRound(dst []RefSample, counters, rates []float64, jitter []int64, ref uint64, t int64, factor float64) {
	// Of the length of dst, so that the loop needs no bounds checks.
	counters, rates, jitter = counters[:len(dst)], rates[:len(dst)], jitter[:len(dst)]
	for i := range dst {
		v := counters[i] + rates[i]*factor
		counters[i] = v
		dst[i] = RefSample{Ref: ref + uint64(i), T: t + jitter[i], V: v}
	}
}

// writeWorkload logs the series 1..series, then rounds rounds of their samples.
func writeWorkload(w *WAL, series, rounds int) error {
	if err := logAllSeries(w, uint64(series)); err != nil {
		return err
	}
	stream := newSampleStream(1, series, rounds)
	batch := make([]RefSample, 0, batchSize)
	for {
		var more bool
		if batch, more = stream.next(batch); !more {
			return nil
		}
		if err := w.LogSamples(batch); err != nil {
			return err
		}
	}
}
