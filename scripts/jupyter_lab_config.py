"""JupyterLab's options for `make lab` (scripts/lab.sh starts it with `--config` this file): quiet, on
loopback, on the port scripts/lab.sh chose. Its port and token come from JUPYTER_PORT and
JUPYTER_TOKEN, which scripts/lab.sh sets (a token in the environment, unlike one on the command
line, is not readable by other users of the machine)."""
import logging

c = get_config()  # noqa: F821 (Jupyter runs this file with get_config defined)

c.ServerApp.ip = "127.0.0.1"
c.ServerApp.port_retries = 0          # another port than the one scripts/lab.sh printed would be a dead link
c.ServerApp.log_level = "WARN"        # no list of extensions loaded, no request log
c.LabApp.log_level = "WARN"
c.LanguageServerManager.autodetect = False   # no list of language servers that are not installed
# CurveZMQ keys for the kernels' sockets (ipykernel declares support): without them every kernel
# warns that its TCP transport is unencrypted.
c.MappingKernelManager.transport_encryption = "auto"


class NotTrustedNotebook(logging.Filter):
    """Drops "Notebook X is not trusted": the chapters are committed without outputs, so there is
    nothing in them to trust, and Jupyter says it each time one is opened."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("Notebook ") and message.endswith(" is not trusted"))


c.ServerApp.logging_config = {"filters": {"not_trusted": {"()": NotTrustedNotebook}},
                              "handlers": {"console": {"filters": ["not_trusted"]}}}
