/**
 * The admin API's route table: `METHOD /literal/:param/…` patterns matched segment by segment. A path
 * that matches some pattern under another method is a 405 (with the methods that would do), one that
 * matches none is a 404. Parameters are percent-decoded; a malformed escape is a 400.
 *
 * @module
 */
import { LobbyErrorCode } from "../errors.js";
import { AdminHttpError, HttpStatus } from "./admin-http-errors.js";

/** HTTP methods the admin API routes. */
export type AdminMethod = "GET" | "POST" | "DELETE";

/** What a handler gets: the path parameters, the query, and the JSON body (undefined when empty). */
export interface AdminRequest {
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly body: unknown;
}

/** What a handler answers: a status (default 200) and a JSON body. */
export interface AdminResponse {
  readonly status?: number;
  readonly body: unknown;
}

/** A route's handler. */
export type AdminHandler = (request: AdminRequest) => Promise<AdminResponse>;

interface Route {
  readonly method: AdminMethod;
  readonly segments: readonly string[];
  readonly handler: AdminHandler;
  /** Whether the route reads a JSON body (the server reads none for the others). */
  readonly hasBody: boolean;
}

/** A matched route. */
export interface RouteMatch {
  readonly handler: AdminHandler;
  readonly params: Readonly<Record<string, string>>;
  readonly hasBody: boolean;
}

function split(path: string): string[] {
  return path.split("/").slice(1);
}

/** A small method + path router. */
export class AdminRouter {
  readonly #routes: Route[] = [];

  /** Adds a route; `pattern` is `/a/:b/c`. `hasBody`: POST routes that take JSON. */
  add(method: AdminMethod, pattern: string, handler: AdminHandler, hasBody = false): this {
    this.#routes.push({ method, segments: split(pattern), handler, hasBody });
    return this;
  }

  /**
   * The route for `method` and `path` (no query).
   * @throws AdminHttpError 404 when no route has this path, 405 (with `allow`) when none has this
   * method for it, 400 for a parameter with a malformed percent escape.
   */
  match(method: string, path: string): RouteMatch {
    const segments = split(path);
    const allow = new Set<string>();
    for (const route of this.#routes) {
      const params = matchSegments(route.segments, segments);
      if (params === undefined) continue;
      if (route.method === method) return { handler: route.handler, params, hasBody: route.hasBody };
      allow.add(route.method);
    }
    if (allow.size > 0) {
      throw new AdminHttpError(
        HttpStatus.MethodNotAllowed,
        LobbyErrorCode.BadRequest,
        `${method} is not allowed here`,
        { allow: [...allow].sort() },
      );
    }
    throw new AdminHttpError(HttpStatus.NotFound, LobbyErrorCode.BadRequest, "no such route");
  }
}

function matchSegments(
  pattern: readonly string[],
  actual: readonly string[],
): Record<string, string> | undefined {
  if (pattern.length !== actual.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const want = pattern[i] as string;
    const got = actual[i] as string;
    if (want.startsWith(":")) {
      if (got === "") return undefined;
      params[want.slice(1)] = decodeSegment(want.slice(1), got);
    } else if (want !== got) {
      return undefined;
    }
  }
  return params;
}

function decodeSegment(name: string, raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new AdminHttpError(
      HttpStatus.BadRequest,
      LobbyErrorCode.BadRequest,
      `malformed ${name} in the path`,
      {
        field: name,
      },
    );
  }
}
