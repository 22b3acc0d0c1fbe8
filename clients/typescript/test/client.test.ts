// The client on its own, against a fake fetch: which credentials go with
// which call, and how error answers become ProblemError. No service needed.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  createRegistrationClient,
  isProblem,
  ProblemError,
  UNTYPED_PROBLEM,
  type RegistrationRequest,
} from "../src/index.js";

const BASE_URL = "https://ilmo.example.fi";
const ADMIN_TOKEN = "organiser-token";

/** A fetch that records each request and answers `answer` to all of them. */
function fakeFetch(answer: () => Response) {
  const requests: Request[] = [];
  const fetch = async (request: Request) => {
    requests.push(request);
    return answer();
  };
  return { requests, fetch };
}

const json = (status: number, body: unknown, type = "application/json") =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": type } });

const registration: RegistrationRequest = {
  first_name: "Aino",
  last_name: "Virtanen",
  email: "aino.virtanen@example.fi",
  attendance: "remote",
  language: "fi",
  privacy_notice_version: "0123456789abcdef",
};

const receipt = {
  id: "4c6a3c1e-5d0b-4c59-9a55-2f4f0f3f9a10",
  status: "accepted",
  manage_token: "manage-1",
};

test("a registration sends its Idempotency-Key and no organiser's token", async () => {
  const { requests, fetch } = fakeFetch(() => json(202, receipt));
  const ilmo = createRegistrationClient({ baseUrl: BASE_URL, token: ADMIN_TOKEN, fetch });
  const answered = await ilmo.register("seminar", registration, { idempotencyKey: "key-1" });
  assert.deepEqual(answered, receipt);
  const [sent] = requests;
  assert.ok(sent);
  assert.equal(sent.method, "POST");
  assert.equal(sent.url, `${BASE_URL}/api/v1/events/seminar/registrations`);
  assert.equal(sent.headers.get("Idempotency-Key"), "key-1");
  assert.equal(sent.headers.get("Authorization"), null);
  assert.deepEqual(await sent.json(), registration);
});

test("without a key no Idempotency-Key header is sent", async () => {
  const { requests, fetch } = fakeFetch(() => json(202, receipt));
  await createRegistrationClient({ baseUrl: BASE_URL, fetch }).register("seminar", registration);
  assert.equal(requests[0]?.headers.get("Idempotency-Key"), null);
});

test("a registrant's calls carry the manage token, the others the client's token", async () => {
  const { requests, fetch } = fakeFetch(() => json(200, {}));
  const ilmo = createRegistrationClient({ baseUrl: BASE_URL, token: ADMIN_TOKEN, fetch });
  await ilmo.showRegistration("r1", "manage-1");
  await ilmo.cancelRegistration("r1", "manage-1");
  await ilmo.listEvents();
  const sent = requests.map((request) => [
    request.method,
    new URL(request.url).pathname,
    request.headers.get("Authorization"),
  ]);
  assert.deepEqual(sent, [
    ["GET", "/api/v1/registrations/r1", "Bearer manage-1"],
    ["DELETE", "/api/v1/registrations/r1", "Bearer manage-1"],
    ["GET", "/api/v1/events", `Bearer ${ADMIN_TOKEN}`],
  ]);
});

test("an error answered as problem details is thrown as a ProblemError of its type", async () => {
  const problem = {
    type: "/problems/registration-closed",
    title: "Registration is closed",
    status: 409,
    detail: "Registration closed at 2026-05-01T12:00:00+00:00.",
  };
  const { fetch } = fakeFetch(() => json(409, problem, "application/problem+json"));
  const ilmo = createRegistrationClient({ baseUrl: BASE_URL, fetch });
  const refused = ilmo.register("seminar", registration);
  await assert.rejects(refused, (error: unknown) => {
    assert.ok(error instanceof ProblemError);
    assert.ok(isProblem(error, "/problems/registration-closed"));
    assert.equal(isProblem(error, "/problems/not-found"), false);
    assert.equal(error.status, 409);
    assert.deepEqual(error.problem, problem);
    return true;
  });
});

test("an error without problem details is a ProblemError of type about:blank", async () => {
  const page = "<html><body>502 Bad Gateway</body></html>";
  const { fetch } = fakeFetch(
    () =>
      new Response(page, {
        status: 502,
        statusText: "Bad Gateway",
        headers: { "Content-Type": "text/html" },
      }),
  );
  const ilmo = createRegistrationClient({ baseUrl: BASE_URL, fetch });
  await assert.rejects(ilmo.listEvents(), (error: unknown) => {
    assert.ok(isProblem(error, UNTYPED_PROBLEM));
    assert.equal(error.status, 502);
    assert.equal(error.problem.title, "Bad Gateway");
    assert.equal(error.problem.detail, page);
    return true;
  });
});
