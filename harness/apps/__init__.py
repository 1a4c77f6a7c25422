"""Apps: the programs that run inside a replica, beside its daprd.

``app`` (the sample Task API over HTTP: jobs, bindings, reminders, gated bindings, workflows),
``front`` (what every HTTP request meets first: the token check, then the trigger routes
recorded and answered ahead of FastAPI), ``grpc_app`` (the SDK's gRPC job handlers),
``workflow_app`` and ``actors`` (the workflow and the reminder actor inside the HTTP app),
``gates`` (the lock and claim taken per binding tick), ``recorder`` (the trigger writer they
share: a trigger is in the history before its answer leaves) and ``environment`` (what an app
is started with, validated at its start by the scenario's models). Each runs as its own
process; they may import ``scenario`` and ``record`` only.
"""
