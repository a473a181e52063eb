/** The faults the benchmark injects into a target's primary, and how each is undone. */
import { readFileSync, readdirSync } from 'node:fs';
import type { LocalCluster } from '../../tests/harness/cluster.ts';
import type { Backend } from './k8s.ts';
import type { Target } from './target.ts';

/** Every fault, in table order. */
export const FAULTS = ['crash', 'freeze', 'pod-delete', 'node-stop', 'net-cut', 'refuse-new', 'control-cut'] as const;

/** One fault of the benchmark. */
export type Fault = (typeof FAULTS)[number];

/** A fault in effect: when it took effect (epoch ms) and how to undo it. */
export interface Injected {
  t0: number;
  /** Undoes the fault (thaw, node-start, net-restore); a no-op for faults Kubernetes repairs itself. */
  restore(): Promise<void>;
}

const stat = (pid: number) => {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { comm: s.slice(s.indexOf('(') + 1, s.lastIndexOf(')')), ppid: Number(rest[1]) };
  } catch {
    return undefined;
  }
};

/**
 * Host PID of the postmaster in the process tree rooted at `root` (a container's main process): the first
 * `postgres` process whose parent is not `postgres`. That is the container's main process for the operator's
 * instances and a child of Patroni in a Patroni pod.
 */
export function postmasterPid(root: number): number {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    const pid = Number(d);
    const s = pid ? stat(pid) : undefined;
    if (s) children.set(s.ppid, [...(children.get(s.ppid) ?? []), pid]);
  }
  const queue = [root];
  while (queue.length) {
    const pid = queue.shift()!;
    const s = stat(pid);
    if (s?.comm === 'postgres' && stat(s.ppid)?.comm !== 'postgres') return pid;
    queue.push(...(children.get(pid) ?? []));
  }
  throw new Error(`no postmaster under PID ${root}`);
}

const pending = new Set<() => Promise<void>>();

/** Undoes every fault still in effect (for a signal handler: the benchmark must not leave a node down). */
export async function restoreAll(): Promise<void> {
  for (const undo of [...pending]) await undo();
}

/** Injects `fault` into the primary `primary` of `target`; its `restore` is idempotent. */
export async function inject(c: LocalCluster, target: Target, primary: Backend, fault: Fault): Promise<Injected> {
  const injected = await injectOnce(c, target, primary, fault);
  const undo = async () => {
    if (!pending.delete(undo)) return;
    await injected.restore();
  };
  pending.add(undo);
  return { t0: injected.t0, restore: undo };
}

async function injectOnce(c: LocalCluster, target: Target, primary: Backend, fault: Fault): Promise<Injected> {
  const pod = `${target.namespace}/${primary.pod}`;
  const none = () => Promise.resolve();
  // A pod deleted meanwhile (the operator fences a failed primary by deleting it) has nothing left to thaw.
  const quiet = (p: Promise<unknown>) => p.then(() => undefined, (err: unknown) => {
    if (!/NotFound|not found/.test(String(err))) console.error(`  restore failed: ${String(err)}`);
  });
  try {
    switch (fault) {
      case 'crash': {
        // SIGKILL of the postmaster only: Patroni (its parent) survives and decides, as after a real crash.
        const pid = postmasterPid(Number((await c.fault('pid', pod, target.container)).trim()));
        process.kill(pid, 'SIGKILL');
        return { t0: Date.now(), restore: none };
      }
      case 'freeze':
        await c.fault('freeze', pod, target.container);
        return { t0: Date.now(), restore: () => quiet(c.fault('thaw', pod, target.container)) };
      case 'pod-delete':
        await c.kubectl('delete', 'pod', '-n', target.namespace, primary.pod, '--wait=false');
        return { t0: Date.now(), restore: none };
      case 'node-stop':
        await c.fault('node-stop', primary.node);
        return { t0: Date.now(), restore: () => quiet(c.fault('node-start', primary.node)) };
      case 'refuse-new': {
        // Partly alive: health checks and new clients fail, connections opened before go on committing.
        const port = '5432';
        await c.fault('refuse-new', pod, port);
        return { t0: Date.now(), restore: () => quiet(c.fault('accept-new', pod, port)) };
      }
      case 'control-cut':
        // The node loses the API server and the operator, not the other nodes: its pods keep serving them.
        await c.fault('control-cut', primary.node);
        return { t0: Date.now(), restore: () => quiet(c.fault('control-restore', primary.node)) };
      case 'net-cut':
        await c.fault('net-cut', primary.node);
        return { t0: Date.now(), restore: () => quiet(c.fault('net-restore', primary.node)) };
    }
  } catch (err) {
    throw new Error(`injecting ${fault} into ${pod} on ${primary.node}`, { cause: err });
  }
}
