// Inputs for the tests against a running registration service.
import { randomUUID } from "node:crypto";

import type { EventCreate, RegistrationRequest } from "../src/index.js";

/**
 * Where the service under test is and the token it accepts, from the
 * environment that tests/e2e/test_typescript_client.py sets. Missing, the
 * tests fail rather than skip: a run that tested nothing must not pass.
 */
export function serviceUnderTest(): { baseUrl: string; token: string } {
  const baseUrl = process.env["ILMO_CLIENT_TEST_BASE_URL"];
  const token = process.env["ILMO_CLIENT_TEST_TOKEN"];
  if (!baseUrl || !token) {
    throw new Error(
      "ILMO_CLIENT_TEST_BASE_URL and ILMO_CLIENT_TEST_TOKEN are not set: these tests run " +
        "against a registration service (`uv run pytest tests/e2e/test_typescript_client.py`)",
    );
  }
  return { baseUrl, token };
}

const DAY = 24 * 60 * 60 * 1000;

/**
 * An event open for registration now, in two weeks, as tests/support/registration.py's
 * `event_payload`: registrations are accepted at once (no confirmation mail).
 */
export function eventPayload(now = new Date()): EventCreate {
  const starts = new Date(Math.floor((now.getTime() + 14 * DAY) / 1000) * 1000);
  const ends = new Date(starts.getTime() + 3 * 60 * 60 * 1000);
  return {
    id: `ts-client-${randomUUID().slice(0, 8)}`,
    title: { fi: "Tekoäly hallinnossa", sv: "AI i förvaltningen", en: "AI in government" },
    starts_at: starts.toISOString(),
    ends_at: ends.toISOString(),
    venue: { name: { fi: "Ministeriön juhlasali" }, address: "Snellmaninkatu 1, Helsinki" },
    in_person_capacity: 40,
    registration_opens_at: new Date(now.getTime() - DAY).toISOString(),
    registration_closes_at: new Date(starts.getTime() - 7 * DAY).toISOString(),
    stream_url: "https://stream.example.fi/seminar",
    published: true,
    organiser: { name: { fi: "Valtiovarainministeriö" }, email: "seminaari@vm.example.fi" },
    email_confirmation: false,
  };
}

/** Someone new, with the version of the privacy notice they were shown. */
export function person(noticeVersion: string): RegistrationRequest {
  return {
    first_name: "Aino",
    last_name: "Virtanen",
    email: `aino.${randomUUID()}@example.fi`,
    attendance: "in_person",
    language: "fi",
    privacy_notice_version: noticeVersion,
  };
}
