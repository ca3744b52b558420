"""What Kuscia would render a config template with, for the differential test against Go
(tests/core/kuscia/test_render_differential.py): the ports and env vars a pod declares (what
``render.check`` is told) and the render data built from them (what Go executes over), and a
second data set of the same shape whose every value differs.
"""

from __future__ import annotations

import json
import re

# What the pod declares (check's ``ports`` and ``env``), and the render data built from it.
PORTS = ("fed", "global", "node-manager")
ENV = ("LOG_LEVEL", "my_var")
CLUSTER = {
    "parties": [
        {"name": "alice", "role": "host", "services": [{"portName": "fed", "endpoints": ["alice:1"]}]},
        {"name": "bob", "role": "guest", "services": [{"portName": "fed", "endpoints": ["bob:1"]}]},
    ],
    "selfPartyIdx": 1,
    "selfEndpointIdx": 0,
}
PORT_LIST = {
    "ports": [
        {"name": name, "port": 20000 + i, "scope": "Cluster", "protocol": "GRPC"}
        for i, name in enumerate(PORTS)
    ]
}
DATA: dict[str, str] = {
    "KUSCIA_DOMAIN_ID": "alice",
    "TASK_ID": "task-1",
    "TASK_INPUT_CONFIG": '{"sf_datasource_config": {"alice": {"id": "default"}}}',
    "TASK_CLUSTER_DEFINE": json.dumps(CLUSTER),
    "ALLOCATED_PORTS": json.dumps(PORT_LIST),
    "SERVING_ID": "serving-1",
    "INPUT_CONFIG": "{}",
    "CLUSTER_DEFINE": json.dumps(CLUSTER),
    "KUSCIA_API_PROTOCOL": "NOTLS",
    "KUSCIA_API_TOKEN": "token",
    "KUSCIA_DOMAIN_KEY_DATA": "a2V5",
    "SERVER_CERT_FILE": "/etc/kuscia/server.crt",
    "SERVER_PRIVATE_KEY_FILE": "/etc/kuscia/server.key",
    "CLIENT_CERT_FILE": "/etc/kuscia/client.crt",
    "CLIENT_PRIVATE_KEY_FILE": "/etc/kuscia/client.key",
    "TRUSTED_CA_FILE": "/etc/kuscia/ca.crt",
    **{"KUSCIA_PORT_" + p.replace("-", "_").upper() + "_NUMBER": str(20000 + i) for i, p in enumerate(PORTS)},
    **{name.upper(): "value" for name in ENV},
}


def alternative(text: str) -> dict[str, str]:
    """Other data of the same shape: every value 200 characters longer (JSON ones with spaces),
    and every name in the text that the data lacks present. A failure Go meets with both
    DATA and this one does not hang on the values."""
    data = {k: v + (" " if v.startswith(("{", "[")) else "~") * 200 for k, v in DATA.items()}
    for name in re.findall(r"[^\W\d]\w*", text):
        data.setdefault(name, "~" * 200)
    return data
