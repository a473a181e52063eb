/** Runs a command in a container through the API server (the kubelet's exec), as `kubectl exec` does. */
import { PassThrough } from 'node:stream';
import { Exec, type KubeConfig, type V1Status } from '@kubernetes/client-node';

/**
 * Runs `command` in `namespace/pod` container `container`; resolves to its output and the final status
 * (`Success`, or `Failure` with the exit code), or to status undefined when the connection ends without one
 * (as when the command stops the container's main process).
 */
export async function execInPod(
  kc: KubeConfig,
  namespace: string,
  pod: string,
  container: string,
  command: string[],
  timeoutMs = 30_000,
): Promise<{ output: string; status?: V1Status }> {
  const out = new PassThrough();
  let output = '';
  out.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (status?: V1Status) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ output, status });
    };
    const timer = setTimeout(() => {
      settled = true;
      reject(new Error(`exec ${command.join(' ')} in ${namespace}/${pod} did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    // The kubelet refuses an exec with no stream at all, so stdout and stderr are always attached.
    new Exec(kc)
      .exec(namespace, pod, container, command, out, out, null, false, (status) => finish(status))
      .then((socket) => socket.on('close', () => finish()))
      .catch((err: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(new Error(`exec ${command.join(' ')} in ${namespace}/${pod}: ${String(err)}`, { cause: err }));
      });
  });
}
