module limen-infra/tools/limen-host

// The pin: build.sh refuses any other Go than the toolchain line (a release binary is reproducible
// only from the same compiler), and never downloads one (GOTOOLCHAIN=local).
go 1.26.0

toolchain go1.26.8

// golang.org/x/sys v0.50.0: openat, fstatat, readlinkat, renameat, O_PATH (newest served, 2026-12).
require golang.org/x/sys v0.50.0
