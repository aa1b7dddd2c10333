// Registers routes on an express router and remembers their templates, so the
// request log and metrics can label by template and unknown methods on known
// paths can be answered 405 rather than 404.
import type { NextFunction, Request, RequestHandler, Response, Router } from "express";
import { match } from "path-to-regexp";
import { invalidParam } from "../errors/matrix-error.ts";

/**
 * No Matrix identifier, event type, state key, transaction id or query value
 * may contain U+0000, and PostgreSQL cannot store it in text: refused here,
 * once for every route, before any handler can pass it to SQL.
 */
function checkNoNul(req: Request): void {
  const values = [...Object.values(req.params as Record<string, string | string[]>), ...Object.values(req.query)].flat();
  if (values.some((v) => typeof v === "string" && v.includes("\u0000"))) throw invalidParam("Parameters must not contain U+0000");
}

export type Method = "GET" | "POST" | "PUT" | "DELETE";

interface Registered {
  method: Method;
  template: string;
  matches: (path: string) => boolean;
}

export class RouteTable {
  private readonly routes: Registered[] = [];
  private readonly router: Router;

  constructor(router: Router) {
    this.router = router;
  }

  add(method: Method, template: string, ...handlers: RequestHandler[]): void {
    const matcher = match(template, { decode: false });
    this.routes.push({ method, template, matches: (path) => matcher(path) !== false });
    const label: RequestHandler = (req: Request, res: Response, next: NextFunction) => {
      res.locals.route = template;
      checkNoNul(req);
      next();
    };
    const verb = method.toLowerCase() as "get" | "post" | "put" | "delete";
    this.router[verb](template, label, ...handlers);
  }

  /** Methods registered for a path, for the 405 answer and its Allow header. */
  methodsFor(path: string): Method[] {
    return [...new Set(this.routes.filter((r) => r.matches(path)).map((r) => r.method))];
  }
}
