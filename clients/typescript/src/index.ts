/**
 * TypeScript client of the EBMM memory service: openapi-fetch typed by `schema.ts`, which openapi-typescript
 * generates from openapi/openapi.json (`npm run generate`; a test fails when it drifts).
 *
 *   const client = createEBMMClient({ baseUrl: "http://127.0.0.1:8000", apiKey });
 *   const memory = unwrap(await client.POST("/memories", { body: { model: "binary128", patterns } }));
 */
import createClient, { type Client, type ClientOptions } from "openapi-fetch";

import type { components, paths } from "./schema.js";

export type { components, paths };
export type Schemas = components["schemas"];
export type Memory = Schemas["MemoryPublic"];
export type Model = Schemas["ModelPublic"];
export type RetrieveResult = Schemas["RetrieveResult"];
export type EBMMClient = Client<paths>;

export const REQUEST_ID_HEADER = "X-Request-Id";

export interface EBMMClientOptions extends ClientOptions {
  /** Sent as `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
}

/** An openapi-fetch client of the service: `client.GET("/models")`, `client.POST("/memories", { body })`, … */
export function createEBMMClient({ apiKey, ...options }: EBMMClientOptions): EBMMClient {
  const client = createClient<paths>(options);
  if (apiKey) {
    client.use({
      onRequest({ request }) {
        request.headers.set("Authorization", `Bearer ${apiKey}`);
        return request;
      },
    });
  }
  return client;
}

/** An error answer: HTTP status and the service's `{"error": {"type", "message", "field", "request_id"}}`. */
export class EBMMError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly field: string | null,
    /** The body's request id, else the X-Request-Id header (null when the server sent neither). */
    readonly requestId: string | null,
  ) {
    super(`${status} ${type}: ${message}${field ? ` (field ${field})` : ""}`);
    this.name = "EBMMError";
  }
}

// Older specs lack `request_id`: read it as optional so the client compiles against either.
type ErrorDetail = Schemas["ErrorDetail"] & { request_id?: string | null };

/** The data of a successful call; an error answer throws `EBMMError`. */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  const { data, error, response } = result;
  if (response.ok) {
    return data as T;
  }
  const detail = (error as { error?: ErrorDetail } | undefined)?.error;
  throw new EBMMError(
    response.status,
    detail?.type ?? "http",
    detail?.message ?? response.statusText,
    detail?.field ?? null,
    detail?.request_id ?? response.headers.get(REQUEST_ID_HEADER),
  );
}
