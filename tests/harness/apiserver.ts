/**
 * A real control plane for tests: etcd and kube-apiserver on free loopback ports, with TLS, RBAC
 * authorization, a client-certificate admin user and service-account keys. No controllers run:
 * there is no garbage collector and no scheduler.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { kubeBinDir } from '../../hack/lib/kube-bin.ts';
import { freePort } from './net.ts';
import { makeCa, makeCert, makeServiceAccountKey } from './pki.ts';
import { makeHarnessDir, reapStale, startLogged, stopPid, tail } from './procs.ts';

/** A running etcd + kube-apiserver. */
export interface ControlPlane {
  /** https://127.0.0.1:<port> */
  url: string;
  /** Path of a kubeconfig for the admin user (group system:masters). */
  kubeconfigPath: string;
  /** A client-node KubeConfig for the admin user. */
  kubeconfig: KubeConfig;
  /** Directory with certificates, data and logs. */
  dir: string;
  /** Directory of the Kubernetes binaries (kubectl among them). */
  binDir: string;
  /** Milliseconds from spawning etcd to a ready apiserver. */
  startupMs: number;
  /** Stops every process it started, by PID, and removes its files. */
  stop(): Promise<void>;
}

function get(url: string, ca?: Buffer): Promise<number> {
  return new Promise((resolve) => {
    const req = (url.startsWith('https') ? request : httpRequest)(url, { ca, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

async function waitHealthy(url: string, child: ChildProcess, what: string, dir: string, ca?: Buffer, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with code ${child.exitCode}:\n${tail(dir, what)}`);
    if ((await get(url, ca)) === 200) return;
    await sleep(100);
  }
  throw new Error(`${what} was not healthy at ${url} within ${timeoutMs} ms:\n${tail(dir, what)}`);
}

/** Writes a kubeconfig with inline certificates. */
export function writeKubeconfig(path: string, server: string, ca: string, cert: string, key: string, user = 'admin'): void {
  const b64 = (file: string) => readFileSync(file).toString('base64');
  const text = `apiVersion: v1
kind: Config
clusters:
- name: pg-operator-test
  cluster:
    server: ${server}
    certificate-authority-data: ${b64(ca)}
users:
- name: ${user}
  user:
    client-certificate-data: ${b64(cert)}
    client-key-data: ${b64(key)}
contexts:
- name: ${user}@pg-operator-test
  context:
    cluster: pg-operator-test
    user: ${user}
current-context: ${user}@pg-operator-test
`;
  writeFileSync(path, text, { mode: 0o600 });
}

/** Starts etcd and kube-apiserver and waits for /readyz. */
export async function startControlPlane(): Promise<ControlPlane> {
  await reapStale();
  const binDir = kubeBinDir();
  const dir = makeHarnessDir('apiserver');
  const started: ChildProcess[] = [];
  const stop = async () => {
    for (const child of started.reverse()) if (child.pid) await stopPid(child.pid);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    makeCa(dir);
    makeCert(dir, 'apiserver', '/CN=kube-apiserver', 'server', ['IP:127.0.0.1', 'DNS:localhost', 'DNS:kubernetes.default.svc']);
    makeCert(dir, 'admin', '/O=system:masters/CN=admin', 'client');
    makeServiceAccountKey(dir);

    const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const t0 = Date.now();
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    const etcd = startLogged(dir, 'etcd', join(binDir, 'etcd'), [
      '--name=default',
      `--data-dir=${join(dir, 'etcd-data')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=default=${peerUrl}`,
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ]);
    started.push(etcd);
    await waitHealthy(`${etcdUrl}/health`, etcd, 'etcd', dir);

    const url = `https://127.0.0.1:${apiPort}`;
    const apiserver = startLogged(dir, 'kube-apiserver', join(binDir, 'kube-apiserver'), [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--tls-cert-file=${join(dir, 'apiserver.crt')}`,
      `--tls-private-key-file=${join(dir, 'apiserver.key')}`,
      `--client-ca-file=${join(dir, 'ca.crt')}`,
      '--authorization-mode=Node,RBAC',
      `--service-account-issuer=${url}`,
      `--service-account-key-file=${join(dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
      '--service-cluster-ip-range=10.96.0.0/16',
      '--allow-privileged=true',
      '--endpoint-reconciler-type=none',
      '--disable-admission-plugins=ServiceAccount',
      `--cert-dir=${join(dir, 'apiserver-certs')}`,
    ]);
    started.push(apiserver);
    const ca = readFileSync(join(dir, 'ca.crt'));
    await waitHealthy(`${url}/readyz`, apiserver, 'kube-apiserver', dir, ca);
    const startupMs = Date.now() - t0;

    const kubeconfigPath = join(dir, 'kubeconfig');
    writeKubeconfig(kubeconfigPath, url, join(dir, 'ca.crt'), join(dir, 'admin.crt'), join(dir, 'admin.key'));
    const kubeconfig = new KubeConfig();
    kubeconfig.loadFromFile(kubeconfigPath);
    return { url, kubeconfigPath, kubeconfig, dir, binDir, startupMs, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
