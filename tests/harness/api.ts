/** The API server in-process against the harness kube-apiserver, with pgousers to call it as. */
import { request } from 'node:https';
import { CoreV1Api } from '@kubernetes/client-node';
import { ADMIN_CREDENTIALS_SECRET, ensureBootstrapAdmin } from '../../src/api/bootstrap.ts';
import { hashPassword } from '../../src/api/auth/password.ts';
import { AccessStore } from '../../src/api/auth/store.ts';
import { startApiServer, type ApiServer } from '../../src/api/server.ts';
import { CustomResources } from '../../src/k8s/custom.ts';
import { waitFor } from './wait.ts';
import { installCrds } from '../../src/k8s/crds.ts';
import { startControlPlane, type ControlPlane } from './apiserver.ts';

/** A control plane with the API server and its users. */
export interface ApiHarness {
  cp: ControlPlane;
  api: ApiServer;
  store: AccessStore;
  adminPassword: string;
  logs: string[];
  stop(): Promise<void>;
}

/** An HTTP answer. */
export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: Record<string, unknown> & { error?: { status: number; message: string; fields?: string[] } };
}

/** Starts etcd + kube-apiserver, installs the CRDs, creates `namespaces`, the bootstrap admin and the API. */
export async function startApi(namespaces: string[]): Promise<ApiHarness> {
  const cp = await startControlPlane();
  try {
    await installCrds(cp.kubeconfig);
    const core = cp.kubeconfig.makeApiClient(CoreV1Api);
    for (const name of ['pgo', ...namespaces]) await core.createNamespace({ body: { metadata: { name } } });
    // Freshly installed CRDs answer 429 "storage is (re)initializing" for a moment.
    for (const plural of ['pgclusters', 'pgreplicas', 'pgtasks', 'pgpolicies'] as const) {
      const api = new CustomResources(cp.kubeconfig, plural);
      await waitFor(`the ${plural} storage`, async () => (await api.listAll(), true), 30_000, 100);
    }
    await ensureBootstrapAdmin(cp.kubeconfig, 'pgo');
    const secret = await core.readNamespacedSecret({ namespace: 'pgo', name: ADMIN_CREDENTIALS_SECRET });
    const adminPassword = Buffer.from(secret.data!.password!, 'base64').toString();
    const logs: string[] = [];
    const api = await startApiServer({ kc: cp.kubeconfig, namespace: 'pgo', port: 0, host: '127.0.0.1', log: (l) => logs.push(l) });
    return { cp, api, store: new AccessStore(cp.kubeconfig, 'pgo'), adminPassword, logs, stop: async () => (await api.close(), await cp.stop()) };
  } catch (err) {
    await cp.stop();
    throw err;
  }
}

/** Creates a pgorole and a pgouser with it (password `password-<name>`). */
export async function addUser(h: ApiHarness, name: string, permissions: string[], namespaces: string[] | '*'): Promise<string> {
  const password = `password-${name}`;
  await h.store.createRole({ name: `role-${name}`, permissions });
  await h.store.createUser({ name, passwordHash: await hashPassword(password), roles: [`role-${name}`], namespaces: namespaces === '*' ? [] : namespaces, allNamespaces: namespaces === '*' });
  return password;
}

/** Calls the API; `auth` is `user:password` or undefined; `body` a value (JSON-encoded) or a raw string. */
export function call(h: ApiHarness, method: string, path: string, auth?: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(`${h.api.url}${path}`, {
      method,
      ca: h.api.tls.cert,
      headers: {
        ...(auth ? { Authorization: `Basic ${Buffer.from(auth).toString('base64')}` } : {}),
        ...(data !== undefined ? { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(data)) } : {}),
        ...headers,
      },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json = {};
        try {
          json = JSON.parse(text) as object;
        } catch {
          // not JSON (the visualizer page)
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    if (data !== undefined) req.write(data);
    req.end();
  });
}
