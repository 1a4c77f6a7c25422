// benchtool: the native side of the harness's benchmarks, standard library only.
//
//	benchtool sink -port P
//	    A null sink: answers every POST (Dapr's POST /job/{name} and binding calls) and every
//	    OPTIONS (daprd's input-binding probe) with 200 and only counts them. GET /healthz
//	    answers 200; GET /_count answers {"count", "first_ns", "last_ns"}.
//	benchtool load -url T1,T2 -n N -c C [-rate R] [-max-s S] [-body JSON]
//	    POSTs up to N requests (stopping after S seconds) from C workers, at R/s or full
//	    speed; request i goes to template i%len with "{i}" replaced by i. Prints one JSON
//	    object: statuses, duration, latency percentiles and the tool's own CPU seconds.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchtool sink|load [flags]")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "sink":
		sink(os.Args[2:])
	case "load":
		load(os.Args[2:])
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q: sink or load\n", os.Args[1])
		os.Exit(2)
	}
}

func sink(args []string) {
	fs := flag.NewFlagSet("sink", flag.ExitOnError)
	port := fs.Int("port", 0, "port on 127.0.0.1")
	_ = fs.Parse(args)
	var count, first, last atomic.Int64
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/healthz":
		case r.Method == http.MethodGet && r.URL.Path == "/_count":
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]int64{
				"count": count.Load(), "first_ns": first.Load(), "last_ns": last.Load()})
			return
		case r.Method == http.MethodPost:
			_, _ = io.Copy(io.Discard, r.Body)
			now := time.Now().UnixNano()
			first.CompareAndSwap(0, now)
			last.Store(now)
			count.Add(1)
		}
		w.WriteHeader(http.StatusOK)
	})
	err := http.ListenAndServe(net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)), handler)
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

type result struct {
	OfferedRate *float64           `json:"offered_rate"`
	Concurrency int                `json:"concurrency"`
	DurationS   float64            `json:"duration_s"`
	Sent        int                `json:"sent"`
	Statuses    map[string]int     `json:"statuses"`
	LatencyMs   map[string]float64 `json:"latency_ms"`
	CPUSeconds  float64            `json:"cpu_s"`
}

func load(args []string) {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	urls := fs.String("url", "", "comma-separated URL templates; {i} is the request index")
	n := fs.Int("n", 1, "requests at most")
	c := fs.Int("c", 50, "concurrent workers")
	rate := fs.Float64("rate", 0, "requests per second (0 = full speed)")
	maxS := fs.Float64("max-s", 60, "stop after this many seconds")
	body := fs.String("body", "{}", "JSON body of every request")
	start := fs.Int("start", 0, "index of the first request")
	_ = fs.Parse(args)
	templates := strings.Split(*urls, ",")
	if *urls == "" || *n < 1 || *c < 1 {
		fmt.Fprintln(os.Stderr, "load needs -url, -n >= 1 and -c >= 1")
		os.Exit(2)
	}
	transport := &http.Transport{MaxIdleConns: *c, MaxIdleConnsPerHost: *c, MaxConnsPerHost: *c}
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	var next atomic.Int64
	var mu sync.Mutex
	statuses := map[string]int{}
	latencies := make([]float64, 0, min(*n, 1<<20)) // n may be a large "until max-s" budget
	begin := time.Now()
	deadline := begin.Add(time.Duration(*maxS * float64(time.Second)))
	var wg sync.WaitGroup
	for w := 0; w < *c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= *n || time.Now().After(deadline) {
					return
				}
				if *rate > 0 {
					time.Sleep(time.Until(begin.Add(time.Duration(float64(i) / *rate * float64(time.Second)))))
				}
				url := strings.ReplaceAll(templates[i%len(templates)], "{i}", strconv.Itoa(*start+i))
				t0 := time.Now()
				status := "error"
				resp, err := client.Post(url, "application/json", bytes.NewBufferString(*body))
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					status = strconv.Itoa(resp.StatusCode)
				}
				ms := float64(time.Since(t0).Microseconds()) / 1000
				mu.Lock()
				statuses[status]++
				latencies = append(latencies, ms)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	out := result{Concurrency: *c, DurationS: time.Since(begin).Seconds(), Statuses: statuses,
		Sent: len(latencies), CPUSeconds: cpuSeconds()}
	if *rate > 0 {
		out.OfferedRate = rate
	}
	if len(latencies) > 0 {
		sort.Float64s(latencies)
		out.LatencyMs = map[string]float64{"p50": pct(latencies, 50), "p99": pct(latencies, 99)}
	}
	_ = json.NewEncoder(os.Stdout).Encode(out)
}

func pct(sorted []float64, p float64) float64 {
	return sorted[int(float64(len(sorted)-1)*p/100+0.5)]
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
