package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, which Linux fixes at 100 for /proc/PID/stat.
const clockTicks = 100

// cpuSeconds is the user+system CPU time a process has used.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces; fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+2:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / clockTicks, nil
}

// rss is a process's resident memory in MiB: in all (VmRSS), and the part
// that is file pages (RssFile: for the app, mostly the embedded store's
// memory-mapped file, which the kernel can drop at will).
type rss struct{ total, file float64 }

func rssMiB(pid int) (rss, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return rss{}, err
	}
	defer f.Close()
	var r rss
	found := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		kb := func(prefix string) float64 {
			v, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(strings.TrimPrefix(line, prefix)), " kB"), 64)
			return v / 1024
		}
		switch {
		case strings.HasPrefix(line, "VmRSS:"):
			r.total, found = kb("VmRSS:"), true
		case strings.HasPrefix(line, "RssFile:"):
			r.file = kb("RssFile:")
		}
	}
	if !found {
		return rss{}, fmt.Errorf("no VmRSS for %d", pid)
	}
	return r, nil
}
