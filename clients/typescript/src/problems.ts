/**
 * Errors of the registration API as typed exceptions.
 *
 * The JSON API answers every error as RFC 9457 problem details
 * (`application/problem+json`) whose `type` is a relative URI such as
 * `/problems/registration-closed`. A client branches on `type`, never on
 * `title` or `detail`: those are for people and follow `Accept-Language`.
 *
 * The list of types is not repeated here as a union: the OpenAPI document
 * names them only in descriptions, and a hand-kept list would drift from
 * the server. Each operation's description in the document says which types
 * it answers.
 */
import type { ProblemDetails } from "./types.js";

/**
 * The `type` of an error answered without problem details, e.g. by a proxy
 * in front of the service: RFC 9457 (section 4.2.1) says such a problem has
 * no meaning beyond its HTTP status.
 */
export const UNTYPED_PROBLEM = "about:blank";

/** An error answer of the API, with its problem details. */
export class ProblemError extends Error {
  override readonly name = "ProblemError";
  /** The HTTP status of the answer. */
  readonly status: number;
  /** The problem's `type`, e.g. `/problems/not-found`, or `about:blank`. */
  readonly type: string;
  /** The whole body: `title`, `detail`, and for 422 the fields at fault (`errors`). */
  readonly problem: ProblemDetails;
  /** The answer itself, for its headers (`Retry-After` with a 429, `Content-Language`). */
  readonly response: Response;

  constructor(problem: ProblemDetails, response: Response) {
    super(`${response.status} ${problem.type}: ${problem.title}`);
    this.status = response.status;
    this.type = problem.type;
    this.problem = problem;
    this.response = response;
  }
}

/** Whether `error` is a problem of the API, of the given `type` when one is named. */
export function isProblem(error: unknown, type?: string): error is ProblemError {
  return error instanceof ProblemError && (type === undefined || error.type === type);
}

/**
 * The problem details of an error answer whose body openapi-fetch has read
 * (parsed as JSON when it is JSON, the text otherwise, `undefined` when empty).
 */
export function problemOf(body: unknown, response: Response): ProblemDetails {
  if (isProblemDetails(body)) {
    return body;
  }
  const text = typeof body === "string" ? body.trim() : "";
  return {
    type: UNTYPED_PROBLEM,
    title: response.statusText || `HTTP ${response.status}`,
    status: response.status,
    // Some text of what answered helps whoever reads the log; capped, as it
    // may be a whole HTML error page.
    detail: text === "" ? null : text.slice(0, 500),
  };
}

function isProblemDetails(body: unknown): body is ProblemDetails {
  if (typeof body !== "object" || body === null) {
    return false;
  }
  const fields = body as Record<string, unknown>;
  return (
    typeof fields["type"] === "string" &&
    typeof fields["title"] === "string" &&
    typeof fields["status"] === "number"
  );
}
