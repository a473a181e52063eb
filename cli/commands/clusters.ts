/** pgo cluster commands: create/show/update/delete cluster, scale, scaledown, failover, label, test, df, reload, status. */
import type { Sade } from 'sade';
import { ROUTE } from '../../src/api/routes.ts';
import { call } from '../client.ts';
import { CliError } from '../config.ts';
import { formatCandidates, formatCluster, formatDf, formatStatus, formatTest, parsePairs } from '../format.ts';
import { action, config, confirm, int, print, str, targets, wantsJson, type Opts } from '../run.ts';
import { followTask } from './tasks.ts';

function nodeLabel(opts: Opts) {
  const pairs = parsePairs(opts['node-label'], 'node-label');
  const [key, value] = Object.entries(pairs)[0] ?? [];
  return key ? { key, value: value! } : undefined;
}

const resources = (opts: Opts) => ({ cpu: str(opts, 'cpu'), memory: str(opts, 'memory'), cpuLimit: str(opts, 'cpu-limit'), memoryLimit: str(opts, 'memory-limit') });
const onOff = (opts: Opts, on: string, off: string) => (opts[on] ? true : opts[off] ? false : undefined);

/** Registers the cluster commands. */
export function clusterCommands(prog: Sade): void {
  prog
    .command('create cluster <name>', 'Create a PostgreSQL cluster')
    .option('--replica-count', 'replicas to create with the cluster')
    .option('--ccp-image', 'PostgreSQL container image')
    .option('--pvc-size', 'size of the data volume, e.g. 1Gi')
    .option('--replica-pvc-size', 'size of replica data volumes')
    .option('--storage-class', 'StorageClass of the volumes')
    .option('--cpu').option('--memory').option('--cpu-limit').option('--memory-limit')
    .option('--node-label', 'prefer (or require) nodes with label key=value')
    .option('--node-affinity-type', 'preferred or required')
    .option('--pod-anti-affinity', 'preferred, required or disabled')
    .option('--service-type', 'ClusterIP, NodePort or LoadBalancer')
    .option('-l, --label', 'labels key=value (repeatable, or comma-separated)')
    .option('-d, --database', 'initial database').option('-u, --username', 'initial user')
    .option('--disable-autofail', 'no automatic failover').option('--sync-replication').option('--shutdown', 'create stopped')
    .option('-z, --policies', 'policies to apply once ready (comma-separated)')
    .option('--parameter', 'PostgreSQL parameter name=value (repeatable)')
    .option('--restore-from', 'create it from the backups of this cluster (live, or deleted with --keep-backups)')
    .option('--restore-opts', 'with --restore-from: pgBackRest restore options, e.g. "--type=time --target=\'2026-12-01 10:00:00+00\' --set=20261201-010000F"')
    .option('--pitr-target', 'with --restore-from: recover to this time, e.g. "2026-12-01 10:00:00+00" (implies --type=time)')
    .action(action(async (name: string, opts: Opts) => {
      const cfg = config(opts);
      const labels = parsePairs(opts.label ?? opts.l, 'label');
      const parameters = parsePairs(opts.parameter, 'parameter');
      const body = {
        name,
        replicaCount: int(opts, 'replica-count', 0),
        image: str(opts, 'ccp-image'),
        pvcSize: str(opts, 'pvc-size'),
        replicaPvcSize: str(opts, 'replica-pvc-size'),
        storageClass: str(opts, 'storage-class'),
        ...resources(opts),
        nodeLabel: nodeLabel(opts),
        nodeAffinityType: str(opts, 'node-affinity-type'),
        podAntiAffinity: str(opts, 'pod-anti-affinity'),
        serviceType: str(opts, 'service-type'),
        labels: Object.keys(labels).length ? labels : undefined,
        database: str(opts, 'database'),
        username: str(opts, 'username'),
        disableAutofail: opts['disable-autofail'] ? true : undefined,
        syncReplication: opts['sync-replication'] ? true : undefined,
        shutdown: opts.shutdown ? true : undefined,
        policies: str(opts, 'policies')?.split(','),
        parameters: Object.keys(parameters).length ? parameters : undefined,
        restoreFrom: str(opts, 'restore-from'),
        restoreOpts: str(opts, 'restore-opts'),
        pitrTarget: str(opts, 'pitr-target'),
      };
      const c = await call(cfg, ROUTE['cluster.create'], { body });
      print(opts, c, () => `created cluster: ${c.name}\nnamespace: ${c.namespace}\n${c.message ? `${c.message}\n` : ''}follow it with: pgo show cluster ${c.name} -n ${c.namespace}  (or pgo watch ${c.name})`);
    }));

  prog
    .command('show cluster [name]', 'Show clusters (names, --selector or --all)')
    .action(action(async (name: string | undefined, opts: Opts) => {
      const cfg = config(opts);
      const selector = str(opts, 'selector');
      let clusters;
      if (selector || opts.all) clusters = (await call(cfg, ROUTE['cluster.list'], { query: { selector } })).clusters;
      else clusters = await Promise.all((await targets(cfg, opts, name)).map((n) => call(cfg, ROUTE['cluster.get'], { params: { name: n } })));
      print(opts, { clusters }, () => (clusters.length ? clusters.map(formatCluster).join('\n\n') : 'no clusters found'));
    }));

  prog
    .command('delete cluster [name]', 'Delete clusters (their data and backups too, unless --keep-data / --keep-backups)')
    .option('--keep-data', 'keep the volumes')
    .option('--keep-backups', 'keep the pgBackRest repository (host, volume, settings) for a later pgo create cluster --restore-from')
    .action(action(async (name: string | undefined, opts: Opts) => {
      const cfg = config(opts);
      const names = await targets(cfg, opts, name);
      const keepData = opts['keep-data'] ? true : undefined;
      const keepBackups = opts['keep-backups'] ? true : undefined;
      await confirm(opts, `deleting cluster(s) ${names.join(', ')}${keepData ? ' (keeping data)' : ' and their data'}${keepBackups ? ' (keeping backups)' : ' and their backups'}`);
      for (const n of names) {
        const r = await call(cfg, ROUTE['cluster.delete'], { params: { name: n }, query: { keepData, keepBackups } });
        print(opts, r, () => r.message);
      }
    }));

  prog
    .command('update cluster [name]', 'Change settings of clusters')
    .option('--enable-autofail').option('--disable-autofail').option('--shutdown').option('--startup')
    .option('--cpu').option('--memory').option('--cpu-limit').option('--memory-limit').option('--service-type')
    .option('--parameter', 'PostgreSQL parameter name=value (repeatable)')
    .action(action(async (name: string | undefined, opts: Opts) => {
      const cfg = config(opts);
      const parameters = parsePairs(opts.parameter, 'parameter');
      const body = Object.fromEntries(Object.entries({
        disableAutofail: onOff(opts, 'disable-autofail', 'enable-autofail'),
        shutdown: onOff(opts, 'shutdown', 'startup'),
        ...resources(opts),
        serviceType: str(opts, 'service-type'),
        parameters: Object.keys(parameters).length ? parameters : undefined,
      }).filter(([, v]) => v !== undefined));
      for (const n of await targets(cfg, opts, name)) {
        const c = await call(cfg, ROUTE['cluster.update'], { params: { name: n }, body });
        print(opts, c, () => `updated pgcluster ${c.name}`);
      }
    }));

  prog
    .command('scale <cluster>', 'Add replicas')
    .option('--replica-count', 'replicas to add', 1)
    .option('--pvc-size').option('--storage-class').option('--node-label').option('--node-affinity-type').option('--service-type')
    .action(action(async (cluster: string, opts: Opts) => {
      const r = await call(config(opts), ROUTE['cluster.scale'], {
        params: { name: cluster },
        body: { replicaCount: int(opts, 'replica-count', 1), pvcSize: str(opts, 'pvc-size'), storageClass: str(opts, 'storage-class'), nodeLabel: nodeLabel(opts), nodeAffinityType: str(opts, 'node-affinity-type'), serviceType: str(opts, 'service-type') },
      });
      print(opts, r, () => r.created.map((n) => `created Pgreplica ${n}`).join('\n'));
    }));

  prog
    .command('scaledown <cluster>', 'List (--query) or remove (--target) replicas')
    .option('--query', 'list the replicas').option('--target', 'replica to remove').option('--keep-data', 'keep its volume')
    .action(action(async (cluster: string, opts: Opts) => {
      const cfg = config(opts);
      const target = str(opts, 'target');
      if (opts.query || !target) {
        if (!opts.query) throw new CliError('give --query to list the replicas or --target=<replica> to remove one', 2);
        const c = await call(cfg, ROUTE['cluster.replicas'], { params: { name: cluster } });
        return print(opts, c, () => formatCandidates(c, 'scaledown'));
      }
      await confirm(opts, `removing replica ${target} of ${cluster}`);
      const r = await call(cfg, ROUTE['cluster.scaledown'], { params: { name: cluster, replica: target }, query: { keepData: opts['keep-data'] ? true : undefined } });
      print(opts, r, () => r.message);
    }));

  prog
    .command('failover <cluster>', 'List candidates (--query) or fail over (--target; none: switchover)')
    .option('--query', 'list the failover candidates').option('--target', 'replica to promote')
    .option('--no-wait', 'return once the task is created').option('--timeout', 'seconds to follow the task', 300)
    .action(action(async (cluster: string, opts: Opts) => {
      const cfg = config(opts);
      if (opts.query) {
        const c = await call(cfg, ROUTE['failover.query'], { params: { name: cluster } });
        return print(opts, c, () => formatCandidates(c, 'failover'));
      }
      const target = str(opts, 'target');
      await confirm(opts, target ? `failing over ${cluster} to ${target}` : `switching over ${cluster} to its best replica`);
      const task = await call(cfg, ROUTE['failover.create'], { params: { name: cluster }, body: { target } });
      if (!wantsJson(opts)) process.stdout.write(`created Pgtask (${task.type}) for cluster ${cluster}: ${task.name}\n`);
      if (opts.wait === false) return void (wantsJson(opts) && print(opts, task, () => ''));
      const done = await followTask(cfg, opts, task.name, int(opts, 'timeout', 300)!);
      if (wantsJson(opts)) print(opts, done, () => '');
    }));

  prog
    .command('label [cluster]', 'Label clusters and their objects')
    .option('--label', 'key=value (repeatable)').option('--dry-run')
    .action(action(async (cluster: string | undefined, opts: Opts) => {
      const cfg = config(opts);
      const labels = parsePairs(opts.label, 'label');
      if (!Object.keys(labels).length) throw new CliError('give --label key=value', 2);
      for (const n of await targets(cfg, opts, cluster)) {
        const r = await call(cfg, ROUTE['cluster.label'], { params: { name: n }, body: { labels, dryRun: opts['dry-run'] ? true : undefined } });
        print(opts, r, () => `${r.dryRun ? 'would label' : 'labeled'} ${n}: ${Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',')}`);
      }
    }));

  prog
    .command('delete label [cluster]', 'Remove labels from clusters')
    .option('--label', 'key (or key=value; the value is ignored)')
    .action(action(async (cluster: string | undefined, opts: Opts) => {
      const cfg = config(opts);
      const keys = [opts.label].flat().filter((v) => typeof v === 'string').flatMap((v) => String(v).split(',')).map((k) => k.split('=')[0]!).filter(Boolean);
      if (!keys.length) throw new CliError('give --label key', 2);
      for (const n of await targets(cfg, opts, cluster)) {
        const r = await call(cfg, ROUTE['cluster.unlabel'], { params: { name: n }, query: { keys: keys.join(',') } });
        print(opts, r, () => `deleted label(s) ${keys.join(',')} from ${n}`);
      }
    }));

  prog.command('test [cluster]', 'Connect to every Service and instance').action(action(async (cluster: string | undefined, opts: Opts) => {
    const cfg = config(opts);
    const results = await Promise.all((await targets(cfg, opts, cluster)).map((n) => call(cfg, ROUTE['cluster.test'], { params: { name: n } })));
    print(opts, results, () => results.map(formatTest).join('\n'));
    if (results.some((r) => r.instances.some((i) => !i.up))) process.exitCode = 1;
  }));

  prog.command('df [cluster]', 'Database sizes and volume capacity').action(action(async (cluster: string | undefined, opts: Opts) => {
    const cfg = config(opts);
    const results = await Promise.all((await targets(cfg, opts, cluster)).map((n) => call(cfg, ROUTE['cluster.df'], { params: { name: n } })));
    print(opts, results, () => results.map(formatDf).join('\n\n'));
  }));

  prog.command('reload [cluster]', 'Reload the PostgreSQL configuration').action(action(async (cluster: string | undefined, opts: Opts) => {
    const cfg = config(opts);
    const names = await targets(cfg, opts, cluster);
    await confirm(opts, `reloading ${names.join(', ')}`);
    for (const n of names) {
      const r = await call(cfg, ROUTE['cluster.reload'], { params: { name: n } });
      print(opts, r, () => [`reload performed on ${n} (${r.reloaded.join(', ') || 'no instance'})`, ...r.failed.map((f) => `\tfailed on ${f.name}: ${f.error}`)].join('\n'));
      if (r.failed.length) process.exitCode = 1;
    }
  }));

  prog.command('status', 'Summary of the namespace').action(action(async (opts: Opts) => {
    const st = await call(config(opts), ROUTE.status);
    print(opts, st, () => formatStatus(st));
  }));
}
