// The client against the registration service running as a process
// (tests/e2e/test_typescript_client.py starts it and runs these).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { before, test } from "node:test";

import { createRegistrationClient, isProblem, type RegistrationStatus } from "../src/index.js";
import { eventPayload, person, serviceUnderTest } from "./support.js";

const { baseUrl, token } = serviceUnderTest();
const organiser = createRegistrationClient({ baseUrl, token });
const registrant = createRegistrationClient({ baseUrl });
let eventId = "";
let noticeVersion = "";

before(async () => {
  const event = await organiser.createEvent(eventPayload());
  assert.equal(event.published, true);
  eventId = event.id;
  noticeVersion = (await registrant.privacyNotice(eventId)).version;
});

test("registers, reads the registration with its manage token, and cancels it", async () => {
  const receipt = await registrant.register(eventId, person(noticeVersion), {
    idempotencyKey: randomUUID(),
  });
  assert.equal(receipt.status, "accepted");

  const registered = await registrant.showRegistration(receipt.id, receipt.manage_token);
  assert.equal(registered.id, receipt.id);
  assert.equal(registered.event_id, eventId);
  // Accepted, then a seat or a place in line once the capacity service decides.
  const live: RegistrationStatus[] = ["accepted", "seat_reserved", "waitlisted"];
  assert.ok(live.includes(registered.status), registered.status);
  assert.equal(registered.cancelled_at, null);

  const cancelled = await registrant.cancelRegistration(receipt.id, receipt.manage_token);
  assert.equal(cancelled.status, "cancelled");
  assert.notEqual(cancelled.cancelled_at, null);
  const read = await registrant.showRegistration(receipt.id, receipt.manage_token);
  assert.equal(read.status, "cancelled");
});

test("a retry with the same Idempotency-Key answers the first registration", async () => {
  // As after a timeout: the same request again, with the same key.
  const registration = person(noticeVersion);
  const idempotencyKey = randomUUID();
  const first = await registrant.register(eventId, registration, { idempotencyKey });
  const retried = await registrant.register(eventId, registration, { idempotencyKey });
  const honoured = "the retry was answered as a new registration: Idempotency-Key not honoured";
  assert.equal(retried.id, first.id, honoured);
  assert.equal(retried.manage_token, first.manage_token, honoured);
  const shown = await registrant.showRegistration(retried.id, retried.manage_token);
  assert.equal(shown.id, first.id);
});

test("errors are ProblemErrors typed by their problem details", async () => {
  const unknown = `no-such-event-${randomUUID().slice(0, 8)}`;
  await assert.rejects(registrant.register(unknown, person(noticeVersion)), (error: unknown) => {
    assert.ok(isProblem(error, "/problems/not-found"), String(error));
    assert.equal(error.status, 404);
    assert.equal(error.problem.status, 404);
    assert.match(error.response.headers.get("content-type") ?? "", /^application\/problem\+json/);
    return true;
  });

  const invalid = { ...person(noticeVersion), email: "not an address" };
  await assert.rejects(registrant.register(eventId, invalid), (error: unknown) => {
    assert.ok(isProblem(error, "/problems/validation"), String(error));
    assert.equal(error.status, 422);
    assert.ok(error.problem.errors?.some((fault) => fault.field === "email"));
    return true;
  });

  // An admin operation without a token.
  await assert.rejects(registrant.createEvent(eventPayload()), (error: unknown) => {
    assert.ok(isProblem(error), String(error));
    assert.equal(error.status, 401);
    return true;
  });
});
