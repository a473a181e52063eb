/** The OpenAPI 3.1 document of the API, generated from the route table and its zod schemas. */
import { z } from 'zod';
import { pathParams, ROUTES, type Route } from './routes.ts';
import { errorBody, name, objectName } from './schemas.ts';
import { SERVER_VERSION } from './handlers/meta.ts';

const json = (schema: z.ZodType, io: 'input' | 'output') => z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' });

function operation(r: Route) {
  const parameters: unknown[] = pathParams(r.path).map((p) => ({ name: p, in: 'path', required: true, schema: json(p === 'task' ? objectName : name, 'input') }));
  if (r.query) {
    const schema = json(r.query, 'input') as { properties?: Record<string, unknown>; required?: string[] };
    for (const [key, prop] of Object.entries(schema.properties ?? {})) parameters.push({ name: key, in: 'query', required: schema.required?.includes(key) ?? false, schema: prop });
  }
  const error = { description: 'error', content: { 'application/json': { schema: json(errorBody, 'output') } } };
  return {
    operationId: r.id,
    summary: r.summary,
    'x-permission': r.permission,
    ...(r.websocket ? { 'x-websocket': true } : {}),
    parameters,
    ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: json(r.body, 'input') } } } } : {}),
    responses: {
      [r.websocket ? '101' : '200']: { description: r.notImplemented ? 'not returned yet' : 'success', content: { 'application/json': { schema: json(r.response, 'output') } } },
      400: error,
      401: error,
      403: error,
      ...(r.notImplemented ? { 501: { ...error, description: r.notImplemented } } : {}),
    },
  };
}

/** Builds the document. */
export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of ROUTES as readonly Route[]) (paths[r.path] ??= {})[r.method.toLowerCase()] = operation(r);
  return {
    openapi: '3.1.0',
    info: { title: 'pg-operator API', version: SERVER_VERSION, description: 'HTTPS + Basic authentication (pgouser); each operation needs the pgorole permission in x-permission and access to the namespace in its path.' },
    components: { securitySchemes: { basic: { type: 'http', scheme: 'basic' } } },
    security: [{ basic: [] }],
    paths,
  };
}
