"""Apps: the programs that run inside a replica, beside its daprd.

``app`` (the sample Task API over HTTP: jobs, bindings, reminders, gated bindings, workflows),
``grpc_app`` (the SDK's gRPC job handlers), ``workflow_app`` and ``actors`` (the workflow and the
reminder actor inside the HTTP app), ``gates`` (the lock and claim taken per binding tick) and
``recorder`` (the trigger writer they share: a trigger is in the history before its answer
leaves). Each runs as its own process; they may import ``scenario`` and ``record`` only.
"""
