package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// hub is a ringwatch serve started by rwbench in a temporary data folder.
type hub struct {
	cmd  *exec.Cmd
	dir  string
	logs bytes.Buffer
}

// startHub runs bin serve with the API on addr and extra arguments, and
// waits until its API answers.
func startHub(bin, addr string, extra ...string) (*hub, error) {
	dir, err := os.MkdirTemp("", "rwbench-")
	if err != nil {
		return nil, err
	}
	h := &hub{dir: dir}
	args := append([]string{"serve", "--data-dir", filepath.Join(dir, "data"), "--http-addr", addr}, extra...)
	h.cmd = exec.Command(bin, args...)
	h.cmd.Stdout, h.cmd.Stderr = &h.logs, &h.logs
	if err := h.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	for deadline := time.Now().Add(15 * time.Second); ; {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return h, nil
			}
		}
		if time.Now().After(deadline) {
			h.stop()
			return nil, fmt.Errorf("the hub did not start; logs:\n%s", h.logs.String())
		}
		time.Sleep(50 * time.Millisecond) // polling for readiness
	}
}

// pid is the hub's process id.
func (h *hub) pid() int { return h.cmd.Process.Pid }

// stop ends the hub with SIGTERM and removes its folder.
func (h *hub) stop() {
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	_ = h.cmd.Wait()
	os.RemoveAll(h.dir)
}
