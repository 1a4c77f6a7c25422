"""The Dapr versions this harness is pinned to."""

DAPR_RUNTIME_VERSION = "1.18.3"  # daprd, scheduler, placement (dapr/dapr tag)
DAPR_CLI_VERSION = "1.18.0"  # dapr/cli tag
DAPR_MODULE = "github.com/dapr/dapr"
DAPR_CLI_MODULE = "github.com/dapr/cli"
CONTROL_PLANE_BINARIES = ("daprd", "scheduler", "placement")
