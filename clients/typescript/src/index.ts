/**
 * @ilmo/registration-client: a typed client of Ilmo's registration API.
 *
 * ```ts
 * const ilmo = createRegistrationClient({ baseUrl: "https://ilmo.example.fi" });
 * const receipt = await ilmo.register(eventId, registration, {
 *   idempotencyKey: crypto.randomUUID(),
 * });
 * ```
 */
export {
  createRegistrationClient,
  type RegisterOptions,
  type RegistrationClient,
  type RegistrationClientOptions,
} from "./client.js";
export { isProblem, ProblemError, problemOf, UNTYPED_PROBLEM } from "./problems.js";
export type { components, operations, paths } from "./schema.js";
export type * from "./types.js";
