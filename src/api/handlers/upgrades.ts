/**
 * `pgo upgrade`: a pgupgrade (a minor upgrade, carried out by src/actors/upgrade.ts) to another image, or to
 * another tag of the cluster's image (`--ccp-image-tag`). Refused here when it could not start: the cluster
 * runs that image already, or another upgrade of it has not ended.
 */
import type { z } from 'zod';
import { LABEL, randomReplicaName } from '../../cluster/names.ts';
import { UPGRADE_MESSAGES, withTag } from '../../crd/pgupgrade.ts';
import { API_VERSION } from '../../crd/resources.ts';
import type { PgUpgradeResource } from '../../crd/types.ts';
import { ApiError } from '../errors.ts';
import type * as s from '../schemas.ts';
import type { HandlerTable } from './deps.ts';

/** A pgupgrade as the progress of a long operation (`pgo show workflow`). */
export function upgradeInfo(u: PgUpgradeResource): z.infer<typeof s.taskInfo> {
  return {
    name: u.metadata.name,
    namespace: u.metadata.namespace,
    type: `${u.spec.type}-upgrade`,
    cluster: u.spec.clusterName,
    target: u.spec.image,
    phase: u.status?.phase ?? 'Pending',
    message: u.status?.message,
    startTime: u.status?.startTime,
    completionTime: u.status?.completionTime,
  };
}

export const upgradeHandlers: HandlerTable = {
  upgrade: async (deps, { params, body }) => {
    const b = body as z.output<typeof s.upgradeBody>;
    const namespace = params.namespace!;
    const cluster = await deps.cluster(namespace, params.name!);
    const image = b.image ?? withTag(cluster.spec.image, b.ccpImageTag!);
    const field = b.image ? 'body.image' : 'body.ccpImageTag';
    if (image === cluster.spec.image) throw new ApiError(400, UPGRADE_MESSAGES.same(image), [field]);
    const open = (await deps.upgrades.list(namespace)).find((u) => u.spec.clusterName === cluster.metadata.name && u.status?.phase !== 'Succeeded' && u.status?.phase !== 'Failed');
    if (open) throw new ApiError(409, UPGRADE_MESSAGES.busy(open.metadata.name));
    const { object } = await deps.upgrades.createIfAbsent({
      apiVersion: API_VERSION,
      kind: 'PGUpgrade',
      metadata: { name: `${cluster.metadata.name}-upgrade-${randomReplicaName('x').slice(2)}`, namespace, labels: { [LABEL.cluster]: cluster.metadata.name } },
      spec: { clusterName: cluster.metadata.name, type: 'minor', image },
    });
    return { body: upgradeInfo(object) };
  },
};
