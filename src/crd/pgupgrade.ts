/** The pgupgrades resource: a minor (image) or major (pg_upgrade) upgrade of a cluster. */
import { z } from 'zod';
import { clusterName } from './limits.ts';
import { workStatus } from './common.ts';

/** Desired state of a pgupgrade. */
export const pgUpgradeSpec = z.strictObject({
  clusterName: clusterName.describe('the pgcluster to upgrade'),
  type: z.enum(['minor', 'major']).default('minor'),
  image: z.string().min(1).describe('PostgreSQL image to move to'),
  toVersion: z.int().min(15).optional().describe('target major version (major upgrades)'),
});

/** Observed state of a pgupgrade. */
export const pgUpgradeStatus = workStatus.extend({
  fromImage: z.string().optional(),
});

export type PgUpgradeSpec = z.output<typeof pgUpgradeSpec>;
