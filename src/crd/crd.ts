/**
 * Generates CustomResourceDefinitions from the zod schemas: a structural openAPIV3Schema with
 * defaults and validation, the status subresource, printer columns and short names.
 */
import { z } from 'zod';
import { GROUP, VERSION, type ResourceDef } from './resources.ts';

type Json = { [key: string]: unknown };

// JSON Schema keywords that a structural Kubernetes schema rejects or that only add noise.
const dropped = new Set(['$schema', 'propertyNames', 'additionalProperties']);

/**
 * Turns zod's OpenAPI 3.0 output into a Kubernetes structural schema: drops `$schema`, `propertyNames`,
 * `additionalProperties: false` and the safe-integer bounds zod adds to every integer.
 */
export function toStructural(schema: Json): Json {
  const out: Json = {};
  for (const [key, value] of Object.entries(schema)) {
    if (dropped.has(key) && !(key === 'additionalProperties' && typeof value === 'object')) continue;
    if ((key === 'maximum' && value === Number.MAX_SAFE_INTEGER) || (key === 'minimum' && value === Number.MIN_SAFE_INTEGER)) continue;
    if (key === 'properties') {
      out[key] = Object.fromEntries(Object.entries(value as Record<string, Json>).map(([k, v]) => [k, toStructural(v)]));
    } else if ((key === 'items' || key === 'additionalProperties') && typeof value === 'object') {
      out[key] = toStructural(value as Json);
    } else {
      out[key] = value;
    }
  }
  return out;
}

/** The openAPIV3Schema of one zod schema, as the API server should see it. */
export function openApiOf(schema: z.ZodType): Json {
  return toStructural(z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input', unrepresentable: 'throw' }));
}

/** The CustomResourceDefinition object of one resource. */
export function buildCrd(def: ResourceDef): Json {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${def.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.singular,
        shortNames: def.shortNames,
        categories: ['pg-operator'],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: def.columns,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: `${def.kind} of the pg-operator PostgreSQL operator.`,
              required: ['spec'],
              ...(def.rules ? { 'x-kubernetes-validations': def.rules } : {}),
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: openApiOf(def.spec),
                status: openApiOf(def.status),
              },
            },
          },
        },
      ],
    },
  };
}
