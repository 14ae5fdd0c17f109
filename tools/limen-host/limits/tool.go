package limits

// MaxToolBytes: the host tool's own binary, which install-self copies from /proc/self/exe and
// tool-status hashes. The static binary is about 3 MB; 16 MiB leaves room for its growth and still
// bounds what root reads at the tool's path (where a changed tool is drift, whatever its size).
const MaxToolBytes = 16 << 20
