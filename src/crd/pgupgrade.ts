/**
 * The pgupgrades resource: a minor upgrade of a cluster to another image of the same PostgreSQL major version
 * (`pgo upgrade CLUSTER --ccp-image-tag TAG`, or written with kubectl). Replicas move to the new image one at a
 * time, each back and streaming before the next; then a switchover to an upgraded replica; then the old
 * primary. Each step is in status.steps, and an operator restarted in the middle goes on from what the
 * instances run. Major upgrades (pg_upgrade) are refused for now.
 */
import { z } from 'zod';
import { clusterName } from './limits.ts';
import { workStatus } from './common.ts';

/** A container image reference. */
export const imageRef = z.string().min(1).max(512).regex(/^[A-Za-z0-9][A-Za-z0-9._\-/:@]*$/, 'must be a container image reference, e.g. localhost/pg-operator/postgres:15');

/** Messages of minor upgrades, defined once for the operator, the API and pgo. */
export const UPGRADE_MESSAGES = {
  major: 'only minor upgrades (type: minor, another image of the same PostgreSQL major version) are supported',
  same: (image: string) => `the cluster runs ${image} already: give another image or tag`,
  busy: (other: string) => `pgupgrade ${other} of this cluster has not ended: wait for it, or delete it`,
  tag: 'must be an image tag: letters, digits, ".", "_" and "-", at most 128 characters, e.g. 15.10-2',
  didNotStart: (instance: string, image: string, why: string) =>
    `instance ${instance} did not come back on ${image} (${why}); it was put back on its old image and the upgrade stopped: the cluster serves on the old image`,
} as const;

/** An image tag (`--ccp-image-tag`). */
export const imageTag = z.string().max(128).regex(/^[A-Za-z0-9_][A-Za-z0-9._-]*$/, UPGRADE_MESSAGES.tag);

/** `repository:tag` with the tag of `image` replaced by `tag`. */
export function withTag(image: string, tag: string): string {
  const at = image.indexOf('@');
  const bare = at >= 0 ? image.slice(0, at) : image;
  const slash = bare.lastIndexOf('/');
  const colon = bare.lastIndexOf(':');
  return `${colon > slash ? bare.slice(0, colon) : bare}:${tag}`;
}

/** Desired state of a pgupgrade. */
export const pgUpgradeSpec = z.strictObject({
  clusterName: clusterName.describe('the pgcluster to upgrade'),
  type: z.enum(['minor', 'major']).default('minor').describe('minor: another image of the same PostgreSQL major version'),
  image: imageRef.describe('PostgreSQL image to move to'),
  toVersion: z.int().min(15).optional().describe('target major version (major upgrades; not supported yet)'),
});

/** One step of an upgrade, as it happened. */
export const upgradeStep = z.strictObject({
  time: z.string(),
  step: z.enum(['checked', 'replica', 'switchover', 'primary', 'finished', 'reverted']),
  instance: z.string().optional(),
  message: z.string(),
});

/** Observed state of a pgupgrade. */
export const pgUpgradeStatus = workStatus.extend({
  fromImage: z.string().optional().describe('the image the cluster ran before'),
  steps: z.array(upgradeStep).max(64).optional(),
});

export type PgUpgradeSpec = z.output<typeof pgUpgradeSpec>;
export type PgUpgradeStatus = z.output<typeof pgUpgradeStatus>;
export type UpgradeStep = z.output<typeof upgradeStep>;
