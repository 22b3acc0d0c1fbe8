/**
 * Names for the schemas a caller of the registration API handles.
 *
 * They are aliases of the generated `components["schemas"]` (schema.ts), so
 * they follow the OpenAPI document on every `npm run generate`; nothing here
 * is written by hand. Any other schema is reachable as
 * `components["schemas"]["<Name>"]`.
 */
import type { components } from "./schema.js";

type Schemas = components["schemas"];

/** The body of `POST /api/v1/events` (admin). */
export type EventCreate = Schemas["EventCreate"];
/** An event as the API shows it. */
export type EventView = Schemas["EventView"];
/** The privacy notice in force: show it, and register with its `version`. */
export type PrivacyNoticeView = Schemas["PrivacyNoticeView"];
/** The body of `POST /api/v1/events/{event_id}/registrations`. */
export type RegistrationRequest = Schemas["RegistrationRequest"];
/** The answer to a registration: keep `manage_token`, it is shown only once. */
export type RegistrationReceipt = Schemas["RegistrationReceipt"];
/** One's own registration and its state, read with the manage token. */
export type RegistrationView = Schemas["RegistrationView"];
/** What a registrant is told: `pending_confirmation`, `accepted`, `seat_reserved`, … */
export type RegistrationStatus = Schemas["Status"];
/** `in_person` or `remote`. */
export type Attendance = Schemas["Attendance"];
/** `fi`, `sv` or `en`. */
export type Language = Schemas["Language"];
/** RFC 9457 problem details, the body of every error of the JSON API. */
export type ProblemDetails = Schemas["ProblemDetails"];
/** One field at fault in a 422 problem (`errors`). */
export type FieldError = Schemas["FieldError"];
