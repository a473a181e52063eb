/**
 * A real S3 server for tests: SeaweedFS (`weed mini`, built by hack/s3/build.sh) serving S3 over HTTPS
 * (pgBackRest 2.45 speaks only HTTPS to S3) on a given address and port, with a server certificate from a
 * throwaway CA, one access key and one bucket. The key can be revoked and restored while the server runs
 * (SIGHUP reloads the identity file; stored objects stay). Its directory is stable per address and port,
 * so a run cleans up what an earlier run on the same address left behind.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { freePort } from './net.ts';
import { makeCa, makeCert } from './pki.ts';
import { alive, harnessRoot, reapStale, startLogged, stopPid, tail } from './procs.ts';

/** A running SeaweedFS with one bucket and one access key. */
export interface S3Server {
  /** `host:port`, as pgBackRest's `repo1-s3-endpoint` takes it. */
  endpoint: string;
  host: string;
  port: number;
  bucket: string;
  /** Any region works for SeaweedFS; pgBackRest requires one. */
  region: string;
  accessKey: string;
  secretKey: string;
  /** Path of the CA certificate that signed the server certificate. */
  caFile: string;
  /** The CA certificate itself (what clients, pods among them, trust). */
  caPem: string;
  /** Directory with the certificates, identity file, data and `weed.log`. */
  dir: string;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
  /** Revokes (`false`) or restores (`true`) the access key; resolves once S3 answers accordingly. */
  setKeyEnabled(enabled: boolean): Promise<void>;
}

/** Where and with what the server starts; every field has a default. */
export interface S3Options {
  /** Address to listen on and to name in the certificate (127.0.0.1; 10.200.0.1 for the cluster tier). */
  host?: string;
  /** S3 port (a free one when unset). */
  port?: number;
  bucket?: string;
  accessKey?: string;
  secretKey?: string;
}

/** An S3 response: HTTP status and body. */
export interface S3Response {
  status: number;
  body: string;
}

const buildScript = fileURLToPath(new URL('../../hack/s3/build.sh', import.meta.url));
let weedBin: string | undefined;

/** Path of the `weed` binary, building it first when the cache lacks it (minutes when cold). */
export function weedPath(): string {
  weedBin ??= join(execFileSync('bash', [buildScript], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop() ?? '', 'weed');
  return weedBin;
}

/** The identity file of `weed -s3.config`: one admin identity whose key is Active or Inactive. */
function identities(accessKey: string, secretKey: string, enabled: boolean): string {
  const credentials = [{ accessKey, secretKey, status: enabled ? 'Active' : 'Inactive' }];
  return JSON.stringify({ identities: [{ name: 'tests', credentials, actions: ['Admin', 'Read', 'List', 'Tagging', 'Write'] }] }, null, 2);
}

/** PIDs of the processes listening on TCP `host:port`, from `ss`. */
function listeners(host: string, port: number): number[] {
  const out = execFileSync('ss', ['-Hltnp', `sport = :${port}`], { encoding: 'utf8' });
  const local = (line: string) => line.trim().split(/\s+/)[3] ?? '';
  const lines = out.split('\n').filter((l) => [`${host}:${port}`, `[${host}]:${port}`, `0.0.0.0:${port}`, `*:${port}`, `[::]:${port}`].includes(local(l)));
  return lines.flatMap((l) => [...l.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])));
}

const isWeed = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]!.endsWith('/weed');
  } catch {
    return false;
  }
};

/**
 * Stops what an earlier run on this address left: the PIDs recorded in `dir` and any `weed` still holding
 * the port, then removes `dir`. A port held by something other than weed is an error, not a kill.
 */
async function cleanEarlierRun(dir: string, host: string, port: number): Promise<void> {
  let recorded: number[] = [];
  try {
    recorded = readFileSync(join(dir, 'pids'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    // no earlier run
  }
  for (const pid of recorded) if (isWeed(pid)) await stopPid(pid);
  for (const pid of listeners(host, port)) {
    if (!isWeed(pid)) throw new Error(`${host}:${port} is held by PID ${pid}, which is not weed`);
    await stopPid(pid);
  }
  rmSync(dir, { recursive: true, force: true });
}

/** Distinct free ports for SeaweedFS's internal servers (master, volume, filer, their gRPC, admin). */
async function freePorts(n: number, taken: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) {
    const p = await freePort();
    if (p !== taken) ports.add(p);
  }
  return [...ports];
}

/** `weed mini` arguments: only the master, volume, filer, S3 (HTTPS on `port`) and the admin back end on `host`. */
function miniArgs(dir: string, host: string, port: number, bucket: string, internal: number[]): string[] {
  const [master, masterGrpc, volume, volumeGrpc, filer, filerGrpc, s3Grpc, admin, adminGrpc] = internal;
  const data = join(dir, 'data');
  return [
    'mini', `-dir=${data}`, `-ip=${host}`, `-ip.bind=${host}`,
    `-master.port=${master}`, `-master.port.grpc=${masterGrpc}`, `-master.dir=${join(data, 'master')}`,
    '-master.volumeSizeLimitMB=64', '-master.telemetry=false',
    `-volume.port=${volume}`, `-volume.port.grpc=${volumeGrpc}`,
    `-filer.port=${filer}`, `-filer.port.grpc=${filerGrpc}`, `-filer.localSocket=${join(dir, 'filer.sock')}`,
    // With a key file and no -s3.port.https, the S3 port itself serves HTTPS.
    `-s3.port=${port}`, `-s3.port.grpc=${s3Grpc}`, `-s3.cert.file=${join(dir, 's3.crt')}`, `-s3.key.file=${join(dir, 's3.key')}`,
    `-s3.config=${join(dir, 'identities.json')}`, `-s3.localSocket=${join(dir, 's3.sock')}`, '-s3.port.iceberg=0', '-s3.port.lance=0',
    `-bucket=${bucket}`,
    '-webdav=false', '-admin.ui=false', `-admin.port=${admin}`, `-admin.port.grpc=${adminGrpc}`, '-admin.port.legacy=0',
    `-admin.dataDir=${join(data, 'admin')}`,
  ];
}

const sha256 = (data: string) => createHash('sha256').update(data).digest('hex');
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();

/** AWS Signature V4 headers for a GET with an empty body. */
function signV4(s: S3Server, path: string, query: string, now: Date): Record<string, string> {
  const amzDate = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const payload = sha256('');
  const headers: Record<string, string> = { host: s.endpoint, 'x-amz-content-sha256': payload, 'x-amz-date': amzDate };
  const signed = Object.keys(headers).sort().join(';');
  const canonical = ['GET', path, query, ...Object.keys(headers).sort().map((h) => `${h}:${headers[h]}`), '', signed, payload].join('\n');
  const scope = `${day}/${s.region}/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
  const key = ['s3', 'aws4_request'].reduce<Buffer>((k, part) => hmac(k, part), hmac(hmac(`AWS4${s.secretKey}`, day), s.region));
  const signature = createHmac('sha256', key).update(toSign).digest('hex');
  return { ...headers, authorization: `AWS4-HMAC-SHA256 Credential=${s.accessKey}/${scope}, SignedHeaders=${signed}, Signature=${signature}` };
}

/**
 * A signed GET of `path` (such as `/<bucket>`) with `query` parameters, over HTTPS verified with the
 * server's CA. Resolves with any HTTP status; rejects only when the server does not answer.
 */
export function s3Get(s: S3Server, path: string, query: Record<string, string> = {}): Promise<S3Response> {
  const enc = (v: string) => encodeURIComponent(v).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const qs = Object.keys(query).sort().map((k) => `${enc(k)}=${enc(query[k]!)}`).join('&');
  const headers = signV4(s, path, qs, new Date());
  return new Promise((resolve, reject) => {
    const req = request({ host: s.host, port: s.port, path: qs ? `${path}?${qs}` : path, headers, ca: s.caPem, servername: isIP(s.host) ? undefined : s.host, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`no answer from https://${s.endpoint}${path} within 5 s`)));
    req.end();
  });
}

/** Keys of the bucket's objects under `prefix` (first 1000, ListObjectsV2). */
export async function s3List(s: S3Server, prefix = ''): Promise<string[]> {
  const res = await s3Get(s, `/${s.bucket}`, { 'list-type': '2', prefix });
  if (res.status !== 200) throw new Error(`listing s3://${s.bucket}/${prefix} failed with HTTP ${res.status}: ${res.body}`);
  return [...res.body.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1]!);
}

/** Resolves once a signed list of the bucket is answered as `enabled` says: 200, or 403 InvalidAccessKeyId. */
async function waitKey(s: S3Server, enabled: boolean, child: ChildProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`weed exited with code ${child.exitCode}`);
    const res = await s3Get(s, `/${s.bucket}`, { 'list-type': '2', 'max-keys': '1' }).catch((err: Error) => ({ status: 0, body: err.message }));
    if (enabled ? res.status === 200 : res.status === 403 && res.body.includes('InvalidAccessKeyId')) return;
    last = `HTTP ${res.status}: ${res.body.slice(0, 300)}`;
    await sleep(100);
  }
  throw new Error(`S3 at https://${s.endpoint} did not ${enabled ? 'accept' : 'refuse'} key ${s.accessKey} within ${timeoutMs} ms (last: ${last})`);
}

/** The server certificate's subjectAltNames for `host`. */
function sans(host: string): string[] {
  // pgBackRest 2.45 matches the host only against DNS names (and the CN), never IP SANs, so an address
  // is named both ways: IP for Go, curl and Node clients, DNS for pgBackRest.
  return isIP(host) ? [`IP:${host}`, `DNS:${host}`] : [`DNS:${host}`];
}

/** Starts SeaweedFS serving S3 over HTTPS on `host:port`, with the bucket created; resolves once S3 answers. */
export async function startS3(opts: S3Options = {}): Promise<S3Server> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? (await freePort());
  const bucket = opts.bucket ?? 'pgbackrest';
  const accessKey = opts.accessKey ?? 'PGOTESTACCESSKEY';
  const secretKey = opts.secretKey ?? 'pg-operator-test-secret-key';
  const weed = weedPath();
  await reapStale();
  const dir = join(harnessRoot, `s3-${host}-${port}`);
  await cleanEarlierRun(dir, host, port);
  mkdirSync(join(dir, 'data', 'master'), { recursive: true });
  writeFileSync(join(dir, 'owner'), String(process.pid));
  makeCa(dir, 'pg-operator-test-s3-ca');
  makeCert(dir, 's3', `/CN=${host}`, 'server', sans(host));
  const identityFile = join(dir, 'identities.json');
  writeFileSync(identityFile, identities(accessKey, secretKey, true));
  // env -u: weed adds AWS_ACCESS_KEY_ID from its environment as a second, never-revoked admin key.
  const args = miniArgs(dir, host, port, bucket, await freePorts(9, port));
  const child = startLogged(dir, 'weed', 'env', ['-u', 'AWS_ACCESS_KEY_ID', '-u', 'AWS_SECRET_ACCESS_KEY', '-u', 'S3_BUCKET', weed, ...args]);
  const caFile = join(dir, 'ca.crt');
  const s: S3Server = {
    endpoint: `${host}:${port}`, host, port, bucket, region: 'us-east-1', accessKey, secretKey, caFile, caPem: readFileSync(caFile, 'utf8'), dir,
    stop: async () => {
      if (child.pid !== undefined) await stopPid(child.pid, 10_000);
      rmSync(dir, { recursive: true, force: true });
    },
    setKeyEnabled: async (enabled) => {
      if (child.pid === undefined || !alive(child.pid)) throw new Error(`weed is not running:\n${tail(dir, 'weed')}`);
      writeFileSync(identityFile, identities(accessKey, secretKey, enabled));
      process.kill(child.pid, 'SIGHUP'); // weed reloads -s3.config on SIGHUP
      try {
        await waitKey(s, enabled, child);
      } catch (err) {
        throw new Error(`${(err as Error).message}\n${tail(dir, 'weed')}`);
      }
    },
  };
  try {
    await waitKey(s, true, child);
    return s;
  } catch (err) {
    const log = tail(dir, 'weed');
    await s.stop();
    throw new Error(`SeaweedFS did not start on ${host}:${port}: ${(err as Error).message}\n${log}`);
  }
}
