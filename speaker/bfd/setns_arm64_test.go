//go:build linux

package bfd

import "syscall"

// sysSetns is setns(2).
const sysSetns = syscall.SYS_SETNS
