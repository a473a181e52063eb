/** Reads and writes of the custom resources, with status updates under optimistic locking. */
import { isDeepStrictEqual } from 'node:util';
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { GROUP, VERSION, type ResourcePlural } from '../crd/resources.ts';
import type { Resource } from '../crd/types.ts';

/** HTTP status of a client-node API error, if it is one. */
export function httpStatus(err: unknown): number | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}

/** A short description of an API error: `HTTP 422: <the API server's message>` instead of client-node's dump. */
export function describeError(err: unknown): string {
  const e = err as { code?: unknown; body?: unknown; message?: string };
  if (typeof e?.code === 'number' && typeof e.body === 'string') {
    try {
      return `HTTP ${e.code}: ${(JSON.parse(e.body) as { message?: string }).message ?? e.body}`;
    } catch {
      return `HTTP ${e.code}: ${e.body}`;
    }
  }
  return e?.message ?? String(err);
}

/** Typed access to one kind of custom resource. */
export class CustomResources<R extends Resource<unknown, unknown>> {
  private readonly api: CustomObjectsApi;
  constructor(
    kc: KubeConfig,
    readonly plural: ResourcePlural,
  ) {
    this.api = kc.makeApiClient(CustomObjectsApi);
  }

  private where(namespace: string) {
    return { group: GROUP, version: VERSION, namespace, plural: this.plural };
  }

  /** Lists the resources of every namespace (for informers). */
  async listAll(): Promise<{ apiVersion?: string; kind?: string; metadata: { resourceVersion?: string }; items: R[] }> {
    return (await this.api.listClusterCustomObject({ group: GROUP, version: VERSION, plural: this.plural })) as never;
  }

  /** Lists the resources of one namespace. */
  async list(namespace: string): Promise<R[]> {
    return ((await this.api.listNamespacedCustomObject(this.where(namespace))) as { items: R[] }).items;
  }

  async get(namespace: string, name: string): Promise<R> {
    return (await this.api.getNamespacedCustomObject({ ...this.where(namespace), name })) as R;
  }

  /** Creates `obj`, or reads it when it already exists; `created` tells which. */
  async createIfAbsent(obj: R): Promise<{ created: boolean; object: R }> {
    try {
      return { created: true, object: (await this.api.createNamespacedCustomObject({ ...this.where(obj.metadata.namespace), body: obj })) as R };
    } catch (err) {
      if (httpStatus(err) !== 409) throw new Error(`creating ${this.plural} ${obj.metadata.namespace}/${obj.metadata.name}: ${describeError(err)}`, { cause: err });
      return { created: false, object: await this.get(obj.metadata.namespace, obj.metadata.name) };
    }
  }

  async delete(namespace: string, name: string): Promise<void> {
    try {
      await this.api.deleteNamespacedCustomObject({ ...this.where(namespace), name, propagationPolicy: 'Background' });
    } catch (err) {
      if (httpStatus(err) !== 404) throw err;
    }
  }

  /** Replaces the object as given (its resourceVersion makes a concurrent change fail with 409). */
  async replace(obj: R): Promise<R> {
    return (await this.api.replaceNamespacedCustomObject({ ...this.where(obj.metadata.namespace), name: obj.metadata.name, body: obj })) as R;
  }

  /**
   * Reads the object, lets `change` edit it (metadata or spec) and writes it back, re-reading on conflicts.
   * Resolves to the written object, or undefined when it is gone.
   */
  async mutate(namespace: string, name: string, change: (current: R) => void): Promise<R | undefined> {
    for (let attempt = 0; ; attempt++) {
      try {
        const current = await this.get(namespace, name);
        change(current);
        return await this.replace(current);
      } catch (err) {
        if (httpStatus(err) === 404) return undefined;
        if (httpStatus(err) !== 409 || attempt >= 5) throw new Error(`updating ${this.plural} ${namespace}/${name}: ${describeError(err)}`, { cause: err });
      }
    }
  }

  /**
   * Sets the status to `next(current)` under optimistic locking: the write carries the resourceVersion
   * read, and a conflict (409) re-reads and recomputes. Writes nothing when the status is unchanged.
   * Resolves to the written object, or undefined when the resource is gone.
   */
  async updateStatus(namespace: string, name: string, next: (current: R) => R['status'] | Promise<R['status']>): Promise<R | undefined> {
    for (let attempt = 0; ; attempt++) {
      let current: R;
      try {
        current = await this.get(namespace, name);
      } catch (err) {
        if (httpStatus(err) === 404) return undefined;
        throw err;
      }
      const status = await next(current);
      if (isDeepStrictEqual(status, current.status)) return current;
      try {
        return (await this.api.replaceNamespacedCustomObjectStatus({ ...this.where(namespace), name, body: { ...current, status } })) as R;
      } catch (err) {
        if (httpStatus(err) !== 409 || attempt >= 5) throw new Error(`updating the status of ${this.plural} ${namespace}/${name}: ${describeError(err)}`, { cause: err });
      }
    }
  }
}
