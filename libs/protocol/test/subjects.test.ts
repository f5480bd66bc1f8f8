import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createSubjects, DEFAULT_SUBJECT_PREFIX, ProtocolError, ProtocolErrorCode } from "@meridian/protocol";
import fc from "fast-check";

const invalidSubject = (error: unknown) =>
  error instanceof ProtocolError && error.code === ProtocolErrorCode.InvalidSubject;

describe("subjects - building", () => {
  it("defaults to the meridian prefix", () => {
    const subjects = createSubjects();
    assert.equal(subjects.prefix, DEFAULT_SUBJECT_PREFIX);
    assert.equal(subjects.service("lobby", "login"), "meridian.svc.lobby.login");
    assert.equal(subjects.event("player.moved"), "meridian.evt.player.moved");
    assert.equal(subjects.zone("z7", "inputs"), "meridian.zone.z7.inputs");
    assert.equal(subjects.gateway("gw-1", "updates"), "meridian.gw.gw-1.updates");
    assert.equal(subjects.all(), "meridian.>");
  });

  it("takes a multi-token prefix such as the testkit's mt.<runId>", () => {
    const subjects = createSubjects({ prefix: "mt.abc123def0" });
    assert.equal(subjects.service("authority", "assign"), "mt.abc123def0.svc.authority.assign");
    assert.equal(subjects.event("zone_up"), "mt.abc123def0.evt.zone_up");
  });

  it("accepts letters, digits, _ and - in tokens", () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/),
        fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/),
        (a, b) => {
          const subject = createSubjects({ prefix: a }).service(a, b);
          assert.equal(subject, `${a}.svc.${a}.${b}`);
        },
      ),
    );
  });
});

describe("subjects - validation", () => {
  it("refuses a bad prefix with PROTO_INVALID_SUBJECT", () => {
    for (const prefix of ["", ".meridian", "meridian.", "a..b", "a b", "a.*", "a.>", "ä", "a\tb"]) {
      assert.throws(() => createSubjects({ prefix }), invalidSubject, JSON.stringify(prefix));
    }
  });

  it("refuses a bad service name or verb with PROTO_INVALID_SUBJECT", () => {
    const subjects = createSubjects();
    for (const token of ["", "a.b", "*", ">", "a b", "lobby\n"]) {
      assert.throws(() => subjects.service(token, "login"), invalidSubject, JSON.stringify(token));
      assert.throws(() => subjects.service("lobby", token), invalidSubject, JSON.stringify(token));
    }
  });

  it("refuses a bad zone server id, gateway id or channel with PROTO_INVALID_SUBJECT", () => {
    const subjects = createSubjects();
    for (const token of ["", "a.b", "*", ">", "a b"]) {
      assert.throws(() => subjects.zone(token, "inputs"), invalidSubject, JSON.stringify(token));
      assert.throws(() => subjects.zone("z1", token), invalidSubject, JSON.stringify(token));
      assert.throws(() => subjects.gateway(token, "updates"), invalidSubject, JSON.stringify(token));
      assert.throws(() => subjects.gateway("gw", token), invalidSubject, JSON.stringify(token));
    }
  });

  it("refuses a bad event topic with PROTO_INVALID_SUBJECT", () => {
    const subjects = createSubjects();
    for (const topic of ["", ".a", "a.", "a..b", "a.*", "a.>"]) {
      assert.throws(() => subjects.event(topic), invalidSubject, JSON.stringify(topic));
    }
  });

  it("never builds a subject with an empty token or a wildcard", () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (name, verb) => {
        let subject: string;
        try {
          subject = createSubjects().service(name, verb);
        } catch (error) {
          assert.ok(invalidSubject(error));
          return;
        }
        for (const token of subject.split(".")) assert.match(token, /^[A-Za-z0-9_-]+$/);
      }),
      { numRuns: 500 },
    );
  });
});
