/**
 * `createRegistrationClient`: the registration API's common calls, typed,
 * with errors thrown as `ProblemError`.
 *
 * A thin layer over openapi-fetch: each call is one request whose path,
 * parameters, body and answer are checked against the types generated from
 * the OpenAPI document (schema.ts). Anything not wrapped here is reachable,
 * just as typed, through `raw`.
 */
import createClient, { type Client } from "openapi-fetch";

import { ProblemError, problemOf } from "./problems.js";
import type { paths } from "./schema.js";
import type {
  EventCreate,
  EventView,
  PrivacyNoticeView,
  RegistrationReceipt,
  RegistrationRequest,
  RegistrationView,
} from "./types.js";

export interface RegistrationClientOptions {
  /** The registration service's public listener, e.g. `https://ilmo.example.fi`. */
  baseUrl: string;
  /**
   * An access token from the organisation's identity provider (or, locally,
   * the development token): sent with the admin operations and with the
   * reads of events, where it shows drafts too. Never sent with a
   * registration or with a registrant's own calls, which carry no token or
   * their manage token instead.
   */
  token?: string;
  /** Sent with every request, e.g. `{ "Accept-Language": "fi" }` for problem texts in Finnish. */
  headers?: Record<string, string>;
  /** Another `fetch` (instrumentation, tests); `globalThis.fetch` by default. */
  fetch?: (request: Request) => Promise<Response>;
}

export interface RegisterOptions {
  /**
   * A key the caller chooses once per registration (a UUID, e.g.
   * `crypto.randomUUID()`) and sends again with every retry of it: a retry
   * with the same key answers the first registration's receipt, the same
   * `id` and `manage_token`, instead of registering anew. Keep it until an
   * answer arrives, so that a timeout or a dropped connection can be retried
   * safely. The same key with another body is refused (422
   * `/problems/idempotency-key-reused`); a retry that overtakes the first
   * attempt gets 409 `/problems/request-in-progress` with `Retry-After`.
   */
  idempotencyKey?: string;
}

export interface RegistrationClient {
  /** Published events, soonest first (with `token`: drafts too). */
  listEvents(): Promise<EventView[]>;
  /** One event; a `ProblemError` 404 (`/problems/not-found`) for an unknown or unpublished one. */
  showEvent(eventId: string): Promise<EventView>;
  /** The privacy notice in force: show it, and register with its `version`. */
  privacyNotice(eventId: string): Promise<PrivacyNoticeView>;
  /** Create an event (admin: needs `token`). */
  createEvent(event: EventCreate): Promise<EventView>;
  /**
   * Register for a published event. The answer's `manage_token` is shown only
   * once: keep it to read or cancel the registration.
   */
  register(
    eventId: string,
    registration: RegistrationRequest,
    options?: RegisterOptions,
  ): Promise<RegistrationReceipt>;
  /** One's own registration and its state, with its manage token. */
  showRegistration(registrationId: string, manageToken: string): Promise<RegistrationView>;
  /** Cancel one's own registration (until the event starts); a repeat answers the same. */
  cancelRegistration(registrationId: string, manageToken: string): Promise<RegistrationView>;
  /**
   * The openapi-fetch client underneath, for every other operation of the
   * document. It sends `token` with every request unless a call's own
   * `headers` say otherwise (`Authorization: null` sends none). Its calls
   * answer `{ data, error, response }` rather than throwing.
   */
  readonly raw: Client<paths>;
}

export function createRegistrationClient(options: RegistrationClientOptions): RegistrationClient {
  const raw = createClient<paths>({
    baseUrl: options.baseUrl,
    headers: {
      ...options.headers,
      ...(options.token === undefined ? {} : { Authorization: `Bearer ${options.token}` }),
    },
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
  });
  // A registrant's calls must not carry an organiser's token: the server
  // would ignore it, but it would travel, and be logged, for nothing.
  const registrant = (manageToken?: string) => ({
    Authorization: manageToken === undefined ? null : `Bearer ${manageToken}`,
  });

  return {
    raw,
    listEvents: () => answer(raw.GET("/api/v1/events")),
    showEvent: (eventId) =>
      answer(raw.GET("/api/v1/events/{event_id}", { params: { path: { event_id: eventId } } })),
    privacyNotice: (eventId) =>
      answer(
        raw.GET("/api/v1/events/{event_id}/privacy-notice", {
          params: { path: { event_id: eventId } },
        }),
      ),
    createEvent: (event) => answer(raw.POST("/api/v1/events", { body: event })),
    register: (eventId, registration, registerOptions = {}) =>
      answer(
        raw.POST("/api/v1/events/{event_id}/registrations", {
          params: {
            path: { event_id: eventId },
            // A header parameter of the operation in the OpenAPI document, so
            // its name is checked against the document: left out when not given.
            ...(registerOptions.idempotencyKey === undefined
              ? {}
              : { header: { "Idempotency-Key": registerOptions.idempotencyKey } }),
          },
          body: registration,
          headers: registrant(),
        }),
      ),
    showRegistration: (registrationId, manageToken) =>
      answer(
        raw.GET("/api/v1/registrations/{registration_id}", {
          params: { path: { registration_id: registrationId } },
          headers: registrant(manageToken),
        }),
      ),
    cancelRegistration: (registrationId, manageToken) =>
      answer(
        raw.DELETE("/api/v1/registrations/{registration_id}", {
          params: { path: { registration_id: registrationId } },
          headers: registrant(manageToken),
        }),
      ),
  };
}

/** What openapi-fetch answers, reduced to what `answer` reads. */
interface Answered<Data> {
  data?: Data;
  error?: unknown;
  response: Response;
}

/** The answer's body, or a `ProblemError` for an error status. */
async function answer<Data>(pending: Promise<Answered<Data>>): Promise<Data> {
  const { data, error, response } = await pending;
  if (!response.ok) {
    throw new ProblemError(problemOf(error, response), response);
  }
  if (data === undefined) {
    // Every operation wrapped here answers a body on success.
    throw new Error(`${response.url} answered ${response.status} without a body`);
  }
  return data;
}
