/** Human output of pgo, after v4's formats (pure functions of the API's answers). */
import type { z } from 'zod';
import type * as s from '../src/api/schemas.ts';

type Cluster = z.infer<typeof s.clusterInfo>;

/** Bytes as `12 MB`-style text (v4 printed sizes this way). */
export function bytes(n: number | undefined): string {
  if (n === undefined) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

/** Left-aligned columns with two spaces between them. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** `pgo show cluster` for one cluster. */
export function formatCluster(c: Cluster): string {
  const lines = [`cluster : ${c.name} (${c.image || 'default image'})`];
  lines.push(`\tphase : ${c.phase ?? 'Pending'}${c.state ? ` (${c.state})` : ''}${c.message ? ` - ${c.message}` : ''}`);
  for (const i of c.instances) {
    const extra = [i.node ? `on ${i.node}` : '', i.ready ? 'ready' : 'not ready', i.podIP ? `(${i.podIP})` : '', i.role === 'replica' && i.lagBytes !== undefined ? `lag ${bytes(i.lagBytes)}` : '']
      .filter(Boolean)
      .join(' ');
    lines.push(`\tinstance : ${i.name} (${i.role}) ${extra}`);
  }
  for (const r of c.replicas.filter((r) => !c.instances.some((i) => i.name === r))) lines.push(`\treplica : ${r} (pending)`);
  for (const svc of c.services) lines.push(`\tservice : ${svc.name} - ${svc.type}${svc.clusterIP ? ` (${svc.clusterIP})` : ''}`);
  lines.push(`\tstorage : Primary=${c.storage.primary || '-'} Replica=${c.storage.replica || '-'}`);
  const r = c.resources;
  lines.push(`\tresources : CPU Limit=${r.cpuLimit ?? ''} Memory Limit=${r.memoryLimit ?? ''}, CPU Request=${r.cpu ?? ''} Memory Request=${r.memory ?? ''}`);
  if (c.backrest) {
    const state = c.backrest.archiving === 'True' ? 'ok' : c.backrest.archiving === 'False' ? 'FAILING' : 'unknown';
    lines.push(`\tbackups : pgBackRest ${c.backrest.storageType}; WAL archiving ${state}${c.backrest.archivingMessage ? ` - ${c.backrest.archivingMessage}` : ''}`);
  } else lines.push('\tbackups : disabled');
  if (c.restore) lines.push(`\trestore : ${c.restore.phase} (pgtask ${c.restore.task}, ${c.restore.time})${c.restore.message ? ` - ${c.restore.message}` : ''}`);
  if (c.lastDrill) lines.push(`\tlast drill : ${c.lastDrill.succeeded ? 'passed' : 'FAILED'} ${c.lastDrill.time}${c.lastDrill.rtoSeconds !== undefined ? `, RTO ${c.lastDrill.rtoSeconds} s` : ''}`);
  if (c.disableAutofail) lines.push('\tautofail : disabled');
  if (c.shutdown) lines.push('\tshutdown : true');
  lines.push(`\tlabels : ${Object.entries(c.labels).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  return lines.join('\n');
}

/** `pgo scaledown --query` / `pgo failover --query`. */
export function formatCandidates(c: z.infer<typeof s.candidateList>, kind: 'scaledown' | 'failover'): string {
  if (c.replicas.length === 0) return `Cluster: ${c.cluster}\nno replicas`;
  const rows = c.replicas.map((r) => [r.name, r.ready ? 'running' : 'not ready', r.node ?? '-', r.lagBytes === undefined ? '-' : bytes(r.lagBytes), ...(kind === 'failover' ? [r.timeline === undefined ? '-' : String(r.timeline)] : [])]);
  return `Cluster: ${c.cluster}${c.primary ? ` (primary ${c.primary})` : ''}\n${table(['REPLICA', 'STATUS', 'NODE', 'REPLICATION LAG', ...(kind === 'failover' ? ['TIMELINE'] : [])], rows)}`;
}

/** `pgo test` (4.2+ format). */
export function formatTest(t: z.infer<typeof s.testResult>): string {
  const up = (b: boolean) => (b ? 'UP' : 'DOWN');
  return [
    `cluster : ${t.cluster}`,
    '\tServices',
    ...t.services.map((x) => `\t\t${x.role} (${x.address ?? x.name}): ${up(x.up)}`),
    '\tInstances',
    ...t.instances.map((i) => `\t\t${i.role} (${i.name}): ${up(i.up)}${i.error ? ` - ${i.error}` : ''}`),
  ].join('\n');
}

/** `pgo df`. */
export function formatDf(d: z.infer<typeof s.dfResult>): string {
  const rows = d.instances.map((i) => {
    const pct = i.databaseBytes !== undefined && i.capacityBytes ? `${((100 * i.databaseBytes) / i.capacityBytes).toFixed(1)}%` : '-';
    return [i.name, i.role, i.up ? 'up' : 'down', bytes(i.databaseBytes), bytes(i.capacityBytes), pct];
  });
  return `cluster : ${d.cluster}\n${table(['INSTANCE', 'ROLE', 'STATUS', 'PGSIZE', 'CAPACITY', 'PCTUSED'], rows)}`;
}

/** `pgo status`. */
export function formatStatus(st: z.infer<typeof s.statusResult>): string {
  return [
    `Namespace: ${st.namespace}`,
    `Databases: ${st.databases}`,
    `Claims: ${st.claims}`,
    `Total Volume Size: ${st.totalVolumeSize}`,
    'Database Images:',
    ...Object.entries(st.images).map(([image, n]) => `\t${n}\t${image}`),
    'Databases Not Ready:',
    ...st.notReady.map((n) => `\t${n}`),
    'Labels (count > 1): [count] [label]',
    ...st.labels.map((l) => `\t[${l.count}]\t[${l.label}]`),
  ].join('\n');
}

/** `pgo show user`. */
export function formatUsers(u: z.infer<typeof s.userList>): string {
  const rows = u.users.map((x) => [u.cluster, x.username, x.password ?? (x.secret ? '********' : ''), x.expires, x.canLogin ? 'yes' : 'no', x.secret ?? '', x.system ? 'system' : '']);
  return table(['CLUSTER', 'USERNAME', 'PASSWORD', 'EXPIRES', 'LOGIN', 'SECRET', ''], rows);
}

/** `pgo create|update|delete user`: what happened on each cluster, per user (v4.3's columns). */
export function formatUserResults(results: z.infer<typeof s.userResult>[]): string {
  const rows = results.flatMap((r) => r.users.map((x) => [r.cluster, x.username, x.password ?? (x.secret ? `(in Secret ${x.secret})` : ''), x.expires ?? '', x.status, x.error ?? '']));
  return table(['CLUSTER', 'USERNAME', 'PASSWORD', 'EXPIRES', 'STATUS', 'ERROR'], rows);
}

/** `pgo show pgouser`. */
export function formatPgouser(u: z.infer<typeof s.pgouserInfo>): string {
  return `pgouser : ${u.name}\nroles : [${u.roles.join(' ')}]\nnamespaces : [${u.allNamespaces ? '*' : u.namespaces.join(' ')}]`;
}

/** `pgo show pgorole`. */
export function formatPgorole(r: z.infer<typeof s.pgoroleInfo>): string {
  return `pgorole : ${r.name}\npermissions : [${r.permissions.join(' ')}]`;
}

/** `pgo apply`: one row per cluster. */
export function formatPolicyApply(r: z.infer<typeof s.policyApplyResult>): string {
  const rows = r.results.map((x) => [x.cluster, x.status, x.task ?? '', x.message ?? '']);
  return `${r.dryRun ? `policy ${r.policy} would run on:\n` : ''}${table(['CLUSTER', 'STATUS', 'TASK', 'MESSAGE'], rows)}`;
}

/** `pgo load`: one line per cluster. */
export function formatLoad(r: z.infer<typeof s.loadResult>): string {
  const rows = r.results.map((x) => [x.cluster, x.status, x.rows === undefined ? '' : String(x.rows), x.line === undefined ? '' : String(x.line), x.task, x.message ?? '']);
  return table(['CLUSTER', 'STATUS', 'ROWS', 'LINE', 'TASK', 'MESSAGE'], rows);
}

/** `pgo show policy`. */
export function formatPolicy(p: z.infer<typeof s.policyInfo>): string {
  return `policy : ${p.name}${p.database ? ` (database ${p.database})` : ''}\n${p.sql.split('\n').map((l) => `\t${l}`).join('\n')}`;
}

/** A task's progress line. */
export function formatTask(t: z.infer<typeof s.taskInfo>): string {
  return `task ${t.name} (${t.type} of ${t.cluster}${t.target ? ` to ${t.target}` : ''}): ${t.phase ?? 'Pending'}${t.message ? ` - ${t.message}` : ''}`;
}

/** One event of `pgo watch`. */
export function formatEvent(e: z.infer<typeof s.streamEvent>): string {
  const what =
    e.kind === 'transition' ? `${e.namespace}/${e.cluster} -> ${e.state}`
    : e.kind === 'task' ? `${e.namespace}/${e.task} ${e.type ?? ''} ${e.phase ?? ''}${e.message ? ` - ${e.message}` : ''}`
    : e.kind === 'event' ? `${e.namespace}/${e.object} ${e.type ?? ''} ${e.reason ?? ''}: ${e.message ?? ''}`
    : (e.message ?? '');
  return `${e.time} ${e.kind} ${what}`;
}

/** Parses `k=v,k2=v2` (repeatable) into a record. */
export function parsePairs(values: unknown, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of [values].flat().filter((v) => v !== undefined && v !== true)) {
    for (const pair of String(item).split(',').filter(Boolean)) {
      const i = pair.indexOf('=');
      if (i <= 0) throw new Error(`--${flag} takes key=value, got "${pair}"`);
      out[pair.slice(0, i)] = pair.slice(i + 1);
    }
  }
  return out;
}
