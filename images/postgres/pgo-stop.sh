#!/bin/bash
# Stops this instance's PostgreSQL (fast shutdown) and, with it, the container: the operator's way to stop,
# restart or fence an instance (`kubectl exec POD -c database -- pgo-stop`). The entrypoint's supervisor
# (under tini, PID 1) does not start it again in place; the kubelet starts the container again and the role
# comes afresh from the pod's label. Returns once the container's processes are gone (the exec then ends).
kill -INT 1
while kill -0 1 2>/dev/null; do sleep 0.1; done
