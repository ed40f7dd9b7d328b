package testworld

import "syscall"

func processGroup() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// killGroup ends every process of the group led by pid (an emulator and anything it started).
func killGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }
