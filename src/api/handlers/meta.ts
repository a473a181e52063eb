/** `pgo version` and the cluster machine's shape for the visualizer. */
import { clusterMachine } from '../../machines/cluster.ts';
import type { HandlerTable } from './deps.ts';

/** Version of the server (package.json's). */
export const SERVER_VERSION = '0.1.0';

interface StateConfig {
  states?: Record<string, StateConfig>;
  meta?: { description?: string };
}

/** Every state of a machine config as a dotted path with its description. */
export function machineStates(config: StateConfig, prefix = ''): { path: string; description?: string }[] {
  return Object.entries(config.states ?? {}).flatMap(([key, child]) => {
    const path = prefix ? `${prefix}.${key}` : key;
    return [{ path, description: child.meta?.description }, ...machineStates(child, path)];
  });
}

/** Meta handlers. */
export const metaHandlers: HandlerTable = {
  version: () => Promise.resolve({ body: { serverVersion: SERVER_VERSION, apiVersion: 'v1' } }),
  machine: () => Promise.resolve({ body: { id: clusterMachine.id, states: machineStates(clusterMachine.config as StateConfig) } }),
};
