// The C side of pmd's telemetry commands: DPDK calls pmd_tel_cb on its
// telemetry thread, and it passes the call to the Go registry. It lives
// in a file of its own because a Go file with an //export may only
// declare C functions in its preamble.

#include <rte_telemetry.h>
#include "_cgo_export.h"

int pmd_tel_cb(const char *cmd, const char *params, struct rte_tel_data *d)
{
	return pmdTelemetryCallback((char *)cmd, (char *)params, d);
}
