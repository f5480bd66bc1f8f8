import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  createSubjects,
  DECODE_ERROR_CODES,
  type DecodeResult,
  encodeMessage,
  LOBBY_MAX_MESSAGE_BYTES,
  LOBBY_QUEUE_GROUP,
  LOBBY_SERVICE,
  LOBBY_VERBS,
  type LobbyErrorReply,
  type LobbyReplyOf,
  type LobbyRequestOf,
  type LobbyVerb,
  LobbyVerbs,
  lobbyReplyCodec,
  lobbyRequestCodec,
  lobbySubject,
  makeLoginNonce,
  PLAYER_STATE_MAX_ENTRIES,
  ProtocolError,
  ProtocolErrorCode,
} from "@meridian/protocol";
import fc from "fast-check";
import { Packr } from "msgpackr";

/** A second, independent MessagePack encoder, for hand-made inputs. */
const raw = (value: unknown) => new Packr({ useRecords: false }).pack(value);

function expectError(result: DecodeResult<unknown>, code: ProtocolErrorCode): ProtocolError | undefined {
  assert.equal(result.ok, false);
  if (result.ok) return undefined;
  assert.ok(result.error instanceof ProtocolError);
  assert.equal(result.error.code, code);
  return result.error;
}

// The codecs of a verb, with the verb's type parameter widened away: the tests loop over every verb.
const requestCodec = (verb: LobbyVerb) => {
  const codec = lobbyRequestCodec(verb);
  return { encode: codec.encode as (message: unknown) => Uint8Array, decode: codec.decode };
};
const replyCodec = (verb: LobbyVerb) => {
  const codec = lobbyReplyCodec(verb);
  return { encode: codec.encode as (message: unknown) => Uint8Array, decode: codec.decode };
};

const TOKEN = "a".repeat(43);
const SESSION = "3f2b8c1e-9d4a-4e7b-8c2f-1a2b3c4d5e6f";
const NOW = 1_760_000_000_000;
const NONCE = makeLoginNonce(NOW);
const sessionFields = {
  accountId: "42",
  sessionId: SESSION,
  accessToken: TOKEN,
  accessExpiresAt: NOW + 900_000,
  refreshToken: "b".repeat(43),
  refreshExpiresAt: NOW + 30 * 86_400_000,
};
const server = {
  id: "7",
  name: "eu-1",
  world: "main",
  address: "game1.example.org",
  port: 7777,
  capacity: 200,
  players: 31,
  version: "1.4.2",
  tags: ["pvp", "eu"],
  lastHeartbeatAt: NOW,
};
const ban = {
  id: "9",
  kind: "account",
  accountId: "42",
  target: null,
  reason: "cheating",
  issuer: "ops:alice",
  createdAt: NOW,
  expiresAt: null,
  liftedAt: null,
  liftedBy: null,
} as const;

/** Example requests and success replies of every verb: full forms and, where fields are optional, minimal ones. */
const examples: {
  readonly [V in LobbyVerb]: {
    readonly requests: readonly LobbyRequestOf<V>[];
    readonly replies: readonly LobbyReplyOf<V>[];
  };
} = {
  login: {
    requests: [
      {
        t: "login",
        username: "Alice",
        password: "correct horse battery staple",
        nonce: NONCE,
        connectionNonce: NONCE,
        ip: "203.0.113.7",
        tls: true,
        gateway: "gw-1",
      },
      {
        t: "login",
        username: "bob",
        password: "p",
        nonce: NONCE,
        connectionNonce: NONCE,
        ip: "::1",
        tls: false,
        gateway: "g",
      },
    ],
    replies: [{ t: "session", ...sessionFields, username: "Alice", created: true }],
  },
  refresh: {
    requests: [{ t: "refresh", refreshToken: TOKEN, tls: true }],
    replies: [{ t: "refreshed", ...sessionFields, username: "Alice" }],
  },
  validate: {
    requests: [{ t: "validate", accessToken: TOKEN }],
    replies: [{ t: "identity", accountId: "42", sessionId: SESSION }],
  },
  logout: {
    requests: [
      { t: "logout", accessToken: TOKEN },
      { t: "logout", sessionId: SESSION },
    ],
    replies: [{ t: "lobby_ok" }],
  },
  change_password: {
    requests: [
      { t: "change_password", accessToken: TOKEN, oldPassword: "old", newPassword: "new", tls: true },
      { t: "change_password", sessionId: SESSION, oldPassword: "old", newPassword: "new", tls: false },
    ],
    replies: [{ t: "lobby_ok" }],
  },
  set_recovery: {
    requests: [
      { t: "set_recovery", accessToken: TOKEN, question: "First pet?", answer: "Mr. Whiskers", tls: true },
      {
        t: "set_recovery",
        sessionId: SESSION,
        question: "q",
        answer: "a",
        email: "alice@example.org",
        tls: true,
      },
      { t: "set_recovery", accessToken: TOKEN, question: "q", answer: "a", email: null, tls: false },
    ],
    replies: [{ t: "lobby_ok" }],
  },
  recovery_question: {
    requests: [{ t: "recovery_question", username: "alice" }],
    replies: [{ t: "recovery_question_is", question: "First pet?" }],
  },
  recover: {
    requests: [{ t: "recover", username: "alice", answer: "mr. whiskers", newPassword: "n3w", tls: true }],
    replies: [{ t: "session", ...sessionFields, username: "Alice", created: false }],
  },
  reset_request: { requests: [{ t: "reset_request", username: "alice" }], replies: [{ t: "lobby_ok" }] },
  reset: {
    requests: [{ t: "reset", token: TOKEN, newPassword: "n3w", tls: true }],
    replies: [{ t: "lobby_ok" }],
  },
  locate: {
    requests: [
      { t: "locate", accountId: "42" },
      { t: "locate", username: "alice" },
    ],
    replies: [
      { t: "location", accountId: "42", username: "Alice", online: false },
      {
        t: "location",
        accountId: "42",
        username: "Alice",
        online: true,
        world: "main",
        zone: "z-3",
        server: null,
        gateway: "gw-1",
        since: NOW,
      },
    ],
  },
  stats_report: {
    requests: [
      {
        t: "stats_report",
        credential: TOKEN,
        entries: [
          { accountId: "42", increments: { kills: 3, "pvp.deaths": 1 } },
          { accountId: "43", increments: {} },
        ],
      },
    ],
    replies: [{ t: "stats_applied", entries: 2 }],
  },
  player_state_save: {
    requests: [
      {
        t: "player_state_save",
        credential: TOKEN,
        world: "main",
        entries: [
          {
            accountId: "42",
            epoch: 7,
            snapshot: { username: "Alice", x: 10.5, y: -3, lastSeq: 12, state: { hp: 90, bag: ["sword"] } },
          },
          { accountId: "43", epoch: 0, snapshot: { username: "", x: 0, y: 0, lastSeq: 0, state: null } },
        ],
      },
    ],
    replies: [{ t: "player_state_saved", saved: 1, stale: 1, unknown: 0, invalid: 0 }],
  },
  player_state_load: {
    requests: [{ t: "player_state_load", credential: TOKEN, world: "main", accountId: "42" }],
    replies: [
      {
        t: "player_state",
        accountId: "42",
        world: "main",
        found: true,
        epoch: 7,
        snapshot: { username: "Alice", x: 10.5, y: -3, lastSeq: 12, state: { hp: 90 } },
        updatedAt: NOW,
      },
      { t: "player_state", accountId: "42", world: "main", found: false },
    ],
  },
  stats_get: {
    requests: [{ t: "stats_get", accountId: "42" }],
    replies: [
      { t: "stats", accountId: "42", stats: { kills: 3, logins: 12 } },
      { t: "stats", accountId: "42", stats: {} },
    ],
  },
  leaderboard: {
    requests: [
      { t: "leaderboard", stat: "kills" },
      { t: "leaderboard", stat: "kills", limit: 100, offset: 20 },
    ],
    replies: [
      {
        t: "leaderboard_is",
        stat: "kills",
        rows: [
          { rank: 1, accountId: "42", username: "Alice", value: 30 },
          { rank: 1, accountId: "43", username: "bob", value: 30 },
          { rank: 3, accountId: "44", username: "carol", value: 2 },
        ],
      },
      { t: "leaderboard_is", stat: "kills", rows: [] },
    ],
  },
  server_advertise: {
    requests: [
      {
        t: "server_advertise",
        credential: TOKEN,
        address: "game1.example.org",
        port: 7777,
        capacity: 200,
        players: 0,
        version: "1.4.2",
        tags: ["pvp"],
      },
      {
        t: "server_advertise",
        credential: TOKEN,
        address: "10.0.0.5",
        port: 1,
        capacity: 0,
        players: 0,
        version: "1",
      },
    ],
    replies: [{ t: "server", server }],
  },
  server_heartbeat: {
    requests: [{ t: "server_heartbeat", credential: TOKEN, players: 31 }],
    replies: [{ t: "server", server: { ...server, tags: [] } }],
  },
  server_list: {
    requests: [
      { t: "server_list" },
      {
        t: "server_list",
        world: "main",
        tag: "pvp",
        hasRoom: true,
        versionPrefix: "1.4",
        limit: 200,
        cursor: "opaque-cursor",
      },
    ],
    replies: [
      { t: "server_page", servers: [server], nextCursor: "next" },
      { t: "server_page", servers: [], nextCursor: null },
    ],
  },
  server_revoke: {
    requests: [{ t: "server_revoke", adminToken: "admin", serverId: "7", reason: "compromised key" }],
    replies: [{ t: "lobby_ok" }],
  },
  server_verify: {
    requests: [{ t: "server_verify", credential: TOKEN }],
    replies: [{ t: "server_verified", serverId: "7", name: "Zone A", world: "main" }],
  },
  ban: {
    requests: [
      {
        t: "ban",
        adminToken: "admin",
        kind: "account",
        accountId: "42",
        reason: "cheating",
        issuer: "ops:alice",
      },
      {
        t: "ban",
        adminToken: "admin",
        kind: "cidr",
        target: "198.51.100.0/24",
        reason: "abuse",
        issuer: "ops:alice",
        expiresAt: NOW + 86_400_000,
      },
    ],
    replies: [
      { t: "ban_is", ban },
      {
        t: "ban_is",
        ban: {
          ...ban,
          kind: "cidr",
          accountId: null,
          target: "198.51.100.0/24",
          expiresAt: NOW + 86_400_000,
          liftedAt: NOW + 1_000,
          liftedBy: "ops:bob",
        },
      },
    ],
  },
  unban: {
    requests: [{ t: "unban", adminToken: "admin", banId: "9", issuer: "ops:bob" }],
    replies: [{ t: "ban_is", ban: { ...ban, liftedAt: NOW + 1_000, liftedBy: "ops:bob" } }],
  },
  ban_snapshot: {
    requests: [{ t: "ban_snapshot_get" }, { t: "ban_snapshot_get", offset: 5_000, limit: 100 }],
    replies: [
      {
        t: "ban_snapshot",
        version: 12,
        addresses: ["203.0.113.7/32", "198.51.100.0/24"],
        accounts: ["42"],
        more: false,
      },
      { t: "ban_snapshot", version: 0, addresses: [], accounts: [], more: true },
    ],
  },
};

const firstRequest = (verb: LobbyVerb): Record<string, unknown> =>
  examples[verb].requests[0] as unknown as Record<string, unknown>;
const firstReply = (verb: LobbyVerb): Record<string, unknown> =>
  examples[verb].replies[0] as unknown as Record<string, unknown>;

const fullError: LobbyErrorReply = {
  t: "lobby_error",
  code: "LOBBY_WRONG_ANSWER",
  message: "wrong answer",
  retryAfterMs: 0,
  attemptsLeft: 2,
  reason: "r",
  expiresAt: NOW,
  field: "answer",
};

describe("lobby messages - verb table", () => {
  it("LOBBY_VERBS lists every verb of LobbyVerbs, in table order, frozen", () => {
    assert.deepEqual([...LOBBY_VERBS], Object.keys(LobbyVerbs));
    assert.ok(Object.isFrozen(LOBBY_VERBS));
    assert.equal(LOBBY_VERBS.length, 24);
  });

  it("every verb has examples (the table above is complete)", () => {
    assert.deepEqual(Object.keys(examples).sort(), [...LOBBY_VERBS].sort());
  });

  it("no two verbs share a request type", () => {
    const types = LOBBY_VERBS.map((verb) => LobbyVerbs[verb].request.type);
    assert.equal(new Set(types).size, types.length);
  });

  it("a request's type is its verb (ban_snapshot's is ban_snapshot_get: its reply is ban_snapshot)", () => {
    for (const verb of LOBBY_VERBS) {
      const expected = verb === "ban_snapshot" ? "ban_snapshot_get" : verb;
      assert.equal(LobbyVerbs[verb].request.type, expected, verb);
    }
  });

  it("no success reply is called lobby_error", () => {
    for (const verb of LOBBY_VERBS) assert.notEqual(LobbyVerbs[verb].reply.type, "lobby_error", verb);
  });
});

describe("lobby messages - round trip", () => {
  for (const verb of LOBBY_VERBS) {
    it(`${verb}: every example request survives the request codec`, () => {
      const codec = requestCodec(verb);
      for (const request of examples[verb].requests) {
        const result = codec.decode(codec.encode(request));
        assert.ok(result.ok, result.ok ? "" : `${result.error.code} ${result.error.message}`);
        assert.deepEqual(result.message, request);
      }
    });

    it(`${verb}: every example reply survives the reply codec`, () => {
      const codec = replyCodec(verb);
      for (const reply of examples[verb].replies) {
        const result = codec.decode(codec.encode(reply));
        assert.ok(result.ok, result.ok ? "" : `${result.error.code} ${result.error.message}`);
        assert.deepEqual(result.message, reply);
      }
    });
  }

  it("lobby_error, minimal and with every field, decodes with every verb's reply codec", () => {
    const minimal: LobbyErrorReply = {
      t: "lobby_error",
      code: "LOBBY_UNAVAILABLE",
      message: "try again later",
    };
    for (const verb of LOBBY_VERBS) {
      const codec = replyCodec(verb);
      for (const error of [minimal, fullError]) {
        const result = codec.decode(encodeMessage(error));
        assert.ok(result.ok, verb);
        assert.deepEqual(result.message, error);
      }
    }
  });

  it("lobby_error: any valid reply survives every reply codec (property)", () => {
    const lobbyError = fc.record(
      {
        t: fc.constant("lobby_error" as const),
        code: fc.string({ minLength: 1, maxLength: 64 }),
        message: fc.string({ maxLength: 1024 }),
        retryAfterMs: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        attemptsLeft: fc.integer({ min: 0, max: 100 }),
        reason: fc.string({ maxLength: 500 }),
        expiresAt: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        field: fc.string({ maxLength: 64 }),
      },
      { requiredKeys: ["t", "code", "message"], noNullPrototype: true },
    );
    fc.assert(
      fc.property(lobbyError, fc.constantFrom(...LOBBY_VERBS), (error, verb) => {
        const codec = replyCodec(verb);
        const result = codec.decode(codec.encode(error));
        assert.ok(result.ok);
        assert.deepEqual(result.message, error);
      }),
      { numRuns: 300 },
    );
  });

  it("a lobby_error field out of range is PROTO_INVALID_MESSAGE with its path", () => {
    const codec = replyCodec("recover");
    const cases: [Record<string, unknown>, string][] = [
      [{ attemptsLeft: 101 }, "/attemptsLeft"],
      [{ attemptsLeft: -1 }, "/attemptsLeft"],
      [{ retryAfterMs: -1 }, "/retryAfterMs"],
      [{ reason: "r".repeat(501) }, "/reason"],
      [{ field: "f".repeat(65) }, "/field"],
      [{ code: "" }, "/code"],
      [{ message: "m".repeat(1025) }, "/message"],
    ];
    for (const [change, path] of cases) {
      const error = expectError(
        codec.decode(raw({ ...fullError, ...change })),
        ProtocolErrorCode.InvalidMessage,
      );
      assert.equal(error?.context.path, path, JSON.stringify(change));
    }
  });

  it("unknown fields are dropped (a newer caller or lobby adds optional fields)", () => {
    const result = requestCodec("validate").decode(
      raw({ t: "validate", accessToken: TOKEN, traceId: "abc" }),
    );
    assert.ok(result.ok);
    assert.deepEqual(result.message, { t: "validate", accessToken: TOKEN });
  });
});

describe("lobby messages - wrong verb", () => {
  it("a request of another verb's type is PROTO_UNKNOWN_TYPE", () => {
    for (const verb of LOBBY_VERBS) {
      const codec = requestCodec(verb);
      for (const other of LOBBY_VERBS) {
        if (other === verb) continue;
        const error = expectError(
          codec.decode(encodeMessage(firstRequest(other) as { t: string })),
          ProtocolErrorCode.UnknownType,
        );
        assert.equal(error?.context.type, LobbyVerbs[other].request.type, `${other} on ${verb}`);
      }
    }
  });

  it("a reply is not a request, and a request is not a reply: PROTO_UNKNOWN_TYPE", () => {
    for (const verb of LOBBY_VERBS) {
      expectError(
        requestCodec(verb).decode(encodeMessage(firstReply(verb) as { t: string })),
        ProtocolErrorCode.UnknownType,
      );
      expectError(requestCodec(verb).decode(encodeMessage(fullError)), ProtocolErrorCode.UnknownType);
      expectError(
        replyCodec(verb).decode(encodeMessage(firstRequest(verb) as { t: string })),
        ProtocolErrorCode.UnknownType,
      );
    }
  });

  it("another verb's reply is PROTO_UNKNOWN_TYPE unless the two verbs share the reply type", () => {
    for (const verb of LOBBY_VERBS) {
      const codec = replyCodec(verb);
      for (const other of LOBBY_VERBS) {
        const bytes = encodeMessage(firstReply(other) as { t: string });
        if (LobbyVerbs[other].reply.type === LobbyVerbs[verb].reply.type) {
          assert.ok(codec.decode(bytes).ok, `${other} on ${verb}`);
        } else {
          expectError(codec.decode(bytes), ProtocolErrorCode.UnknownType);
        }
      }
    }
  });
});

/** The request's top-level string fields that have a maxLength, from the schema. */
function boundedStrings(verb: LobbyVerb): [string, number][] {
  const properties = LobbyVerbs[verb].request.schema.properties as Record<
    string,
    { type?: unknown; maxLength?: unknown }
  >;
  const out: [string, number][] = [];
  for (const [name, schema] of Object.entries(properties)) {
    if (schema.type === "string" && typeof schema.maxLength === "number") out.push([name, schema.maxLength]);
  }
  return out;
}

describe("lobby messages - invalid requests", () => {
  it("every missing required field is PROTO_INVALID_MESSAGE with its path", () => {
    let checked = 0;
    for (const verb of LOBBY_VERBS) {
      const schema = LobbyVerbs[verb].request.schema as { required?: readonly string[] };
      const codec = requestCodec(verb);
      for (const field of schema.required ?? []) {
        if (field === "t") continue;
        const { [field]: _dropped, ...request } = firstRequest(verb);
        const error = expectError(codec.decode(raw(request)), ProtocolErrorCode.InvalidMessage);
        assert.equal(error?.context.path, `/${field}`, `${verb} without ${field}`);
        checked++;
      }
    }
    assert.ok(checked >= 40, `only ${checked} required fields checked`);
  });

  it("every string field one character over its bound is PROTO_INVALID_MESSAGE with its path", () => {
    let checked = 0;
    for (const verb of LOBBY_VERBS) {
      const codec = requestCodec(verb);
      for (const [field, maxLength] of boundedStrings(verb)) {
        if (field === "t") continue;
        const request = { ...firstRequest(verb), [field]: "x".repeat(maxLength + 1) };
        const error = expectError(codec.decode(raw(request)), ProtocolErrorCode.InvalidMessage);
        assert.equal(error?.context.path, `/${field}`, `${verb}.${field}`);
        // At the bound it is accepted (the lobby checks meaning, not the schema).
        assert.ok(
          codec.decode(raw({ ...request, [field]: "x".repeat(maxLength) })).ok,
          `${verb}.${field} at bound`,
        );
        checked++;
      }
    }
    assert.ok(checked >= 30, `only ${checked} bounded fields checked`);
  });

  it("fields of the wrong type or out of range are PROTO_INVALID_MESSAGE with their path", () => {
    const cases: [LobbyVerb, Record<string, unknown>, string][] = [
      ["login", { tls: "yes" }, "/tls"],
      ["login", { ip: "1" }, "/ip"],
      ["login", { password: "" }, "/password"],
      ["login", { username: 42 }, "/username"],
      ["stats_get", { accountId: "0" }, "/accountId"],
      ["stats_get", { accountId: "042" }, "/accountId"],
      ["stats_get", { accountId: "1".repeat(20) }, "/accountId"],
      ["stats_get", { accountId: 42 }, "/accountId"],
      ["locate", { accountId: "abc" }, "/accountId"],
      ["leaderboard", { stat: "Kills" }, "/stat"],
      ["leaderboard", { limit: 0 }, "/limit"],
      ["leaderboard", { limit: 101 }, "/limit"],
      ["leaderboard", { offset: -1 }, "/offset"],
      ["stats_report", { entries: [] }, "/entries"],
      ["player_state_save", { entries: [] }, "/entries"],
      ["player_state_save", { world: "" }, "/world"],
      ["player_state_save", { world: "w".repeat(65) }, "/world"],
      ["player_state_save", { credential: "" }, "/credential"],
      [
        "player_state_save",
        {
          entries: [
            { accountId: "01", epoch: 1, snapshot: { username: "a", x: 0, y: 0, lastSeq: 0, state: null } },
          ],
        },
        "/entries/0/accountId",
      ],
      [
        "player_state_save",
        {
          entries: [
            { accountId: "1", epoch: -1, snapshot: { username: "a", x: 0, y: 0, lastSeq: 0, state: null } },
          ],
        },
        "/entries/0/epoch",
      ],
      [
        "player_state_save",
        {
          entries: [
            { accountId: "1", epoch: 1.5, snapshot: { username: "a", x: 0, y: 0, lastSeq: 0, state: null } },
          ],
        },
        "/entries/0/epoch",
      ],
      [
        "player_state_save",
        {
          entries: [
            {
              accountId: "1",
              epoch: Number.MAX_SAFE_INTEGER + 1,
              snapshot: { username: "a", x: 0, y: 0, lastSeq: 0, state: null },
            },
          ],
        },
        "/entries/0/epoch",
      ],
      [
        "player_state_save",
        {
          entries: [
            { accountId: "1", epoch: 1, snapshot: { username: "a", x: "0", y: 0, lastSeq: 0, state: null } },
          ],
        },
        "/entries/0/snapshot/x",
      ],
      [
        "player_state_save",
        {
          entries: [
            {
              accountId: "1",
              epoch: 1,
              snapshot: { username: "a", x: 0, y: 0, lastSeq: 2 ** 32, state: null },
            },
          ],
        },
        "/entries/0/snapshot/lastSeq",
      ],
      [
        "player_state_save",
        {
          entries: [
            {
              accountId: "1",
              epoch: 1,
              snapshot: { username: "u".repeat(65), x: 0, y: 0, lastSeq: 0, state: null },
            },
          ],
        },
        "/entries/0/snapshot/username",
      ],
      ["player_state_save", { entries: [{ accountId: "1", epoch: 1 }] }, "/entries/0/snapshot"],
      ["player_state_load", { accountId: "x" }, "/accountId"],
      ["player_state_load", { world: "" }, "/world"],
      [
        "stats_report",
        { entries: [{ accountId: "1", increments: { kills: 1.5 } }] },
        "/entries/0/increments/kills",
      ],
      [
        "stats_report",
        { entries: [{ accountId: "1", increments: { kills: Number.MAX_SAFE_INTEGER + 1 } }] },
        "/entries/0/increments/kills",
      ],
      ["server_advertise", { port: 0 }, "/port"],
      ["server_advertise", { port: 65_536 }, "/port"],
      ["server_advertise", { tags: Array.from({ length: 17 }, () => "t") }, "/tags"],
      ["server_advertise", { tags: ["t".repeat(33)] }, "/tags/0"],
      ["server_heartbeat", { players: -1 }, "/players"],
      ["server_list", { limit: 201 }, "/limit"],
      ["server_list", { hasRoom: 1 }, "/hasRoom"],
      ["ban", { kind: "range" }, "/kind"],
      ["ban", { expiresAt: -1 }, "/expiresAt"],
      ["set_recovery", { email: "ab" }, "/email"],
      ["set_recovery", { email: 7 }, "/email"],
    ];
    for (const [verb, change, path] of cases) {
      const request = { ...firstRequest(verb), ...change };
      const error = expectError(requestCodec(verb).decode(raw(request)), ProtocolErrorCode.InvalidMessage);
      assert.equal(error?.context.path, path, `${verb} ${JSON.stringify(change).slice(0, 80)}`);
    }
  });

  it("player_state_save takes 1–500 entries (PLAYER_STATE_MAX_ENTRIES); 501 or a NaN position is PROTO_INVALID_MESSAGE", () => {
    assert.equal(PLAYER_STATE_MAX_ENTRIES, 500);
    const entry = (i: number) => ({
      accountId: String(i + 1),
      epoch: i,
      snapshot: { username: `p${i}`, x: i, y: i, lastSeq: i, state: { i } },
    });
    const codec = requestCodec("player_state_save");
    const full = {
      ...firstRequest("player_state_save"),
      entries: Array.from({ length: 500 }, (_, i) => entry(i)),
    };
    const decoded = codec.decode(raw(full));
    assert.ok(decoded.ok);
    const over = { ...full, entries: Array.from({ length: 501 }, (_, i) => entry(i)) };
    const error = expectError(codec.decode(raw(over)), ProtocolErrorCode.InvalidMessage);
    assert.equal(error?.context.path, "/entries");
    const nan = { ...full, entries: [{ ...entry(0), snapshot: { ...entry(0).snapshot, x: Number.NaN } }] };
    const nanError = expectError(codec.decode(raw(nan)), ProtocolErrorCode.InvalidMessage);
    assert.equal(nanError?.context.path, "/entries/0/snapshot/x");
  });

  it("player_state: a reply without found, or with a negative epoch, is PROTO_INVALID_MESSAGE", () => {
    const codec = replyCodec("player_state_load");
    const base = { t: "player_state", accountId: "42", world: "main" };
    expectError(codec.decode(raw(base)), ProtocolErrorCode.InvalidMessage);
    expectError(codec.decode(raw({ ...base, found: true, epoch: -1 })), ProtocolErrorCode.InvalidMessage);
    const saved = replyCodec("player_state_save");
    expectError(
      saved.decode(raw({ t: "player_state_saved", saved: 1, stale: 0 })),
      ProtocolErrorCode.InvalidMessage,
    );
  });

  it("a stats report key that is not a stat name, a negative delta or 65 stats is PROTO_INVALID_MESSAGE", () => {
    const tooMany = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`s${i}`, 1]));
    for (const increments of [
      { "Bad Name": 1 },
      { kills: 1, "": 1 },
      { Kills: "many" },
      { kills: -1 },
      tooMany,
    ]) {
      const request = { ...firstRequest("stats_report"), entries: [{ accountId: "1", increments }] };
      const error = expectError(
        requestCodec("stats_report").decode(raw(request)),
        ProtocolErrorCode.InvalidMessage,
      );
      assert.match(String(error?.context.path), /^\/entries\/0\/increments/);
    }
  });
});

describe("lobby messages - size limit and garbage", () => {
  it("the limit is below NATS's default max_payload (1 MiB) and applies to every verb's codecs", () => {
    assert.ok(LOBBY_MAX_MESSAGE_BYTES < 1_048_576, String(LOBBY_MAX_MESSAGE_BYTES));
    for (const verb of LOBBY_VERBS) {
      assert.equal(lobbyRequestCodec(verb).maxMessageBytes, LOBBY_MAX_MESSAGE_BYTES);
      assert.equal(lobbyReplyCodec(verb).maxMessageBytes, LOBBY_MAX_MESSAGE_BYTES);
    }
  });

  it("more than LOBBY_MAX_MESSAGE_BYTES is PROTO_TOO_LARGE, before decoding", () => {
    const garbage = new Uint8Array(LOBBY_MAX_MESSAGE_BYTES + 1).fill(0xc1);
    for (const verb of LOBBY_VERBS) {
      const error = expectError(requestCodec(verb).decode(garbage), ProtocolErrorCode.TooLarge);
      assert.equal(error?.context.size, LOBBY_MAX_MESSAGE_BYTES + 1);
      expectError(replyCodec(verb).decode(garbage), ProtocolErrorCode.TooLarge);
    }
  });

  it("a valid request just over the limit is PROTO_TOO_LARGE on decode and on encode", () => {
    // A stats report of 1,000 players, each with 16 long stat names: past the limit.
    const entries = Array.from({ length: 1_000 }, (_, i) => ({
      accountId: String(i + 1),
      increments: Object.fromEntries(
        Array.from({ length: 16 }, (_, s) => [`stat_${s}_${"x".repeat(56)}`, 1]),
      ),
    }));
    const request = { t: "stats_report" as const, credential: TOKEN, entries };
    const bytes = encodeMessage(request);
    assert.ok(bytes.byteLength > LOBBY_MAX_MESSAGE_BYTES, `${bytes.byteLength} bytes`);
    expectError(requestCodec("stats_report").decode(bytes), ProtocolErrorCode.TooLarge);
    assert.throws(
      () => lobbyRequestCodec("stats_report").encode(request),
      (error: unknown) => error instanceof ProtocolError && error.code === ProtocolErrorCode.TooLarge,
    );
  });

  it("a stats report of 1,000 players with a few stats each fits", () => {
    const entries = Array.from({ length: 1_000 }, (_, i) => ({
      accountId: String(9_000_000_000_000_000_000n + BigInt(i)),
      increments: {
        kills: 1_000_000,
        deaths: 1_000_000,
        "pvp.wins": 3,
        "quests.completed": 1,
        playtime_s: 36_000,
      },
    }));
    const codec = lobbyRequestCodec("stats_report");
    const result = codec.decode(codec.encode({ t: "stats_report", credential: TOKEN, entries }));
    assert.ok(result.ok);
  });

  it("garbage never throws: random bytes fail with a decode code (property)", () => {
    fc.assert(
      fc.property(fc.constantFrom(...LOBBY_VERBS), fc.uint8Array({ maxLength: 256 }), (verb, bytes) => {
        for (const codec of [requestCodec(verb), replyCodec(verb)]) {
          const result = codec.decode(bytes);
          if (!result.ok) assert.ok(DECODE_ERROR_CODES.includes(result.error.code), result.error.code);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it("garbage never throws: mutated example requests fail with a decode code (property)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...LOBBY_VERBS),
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        (verb, at, byte) => {
          const bytes = Uint8Array.from(encodeMessage(firstRequest(verb) as { t: string }));
          bytes[at % bytes.length] = byte;
          const result = requestCodec(verb).decode(bytes);
          if (!result.ok) assert.ok(DECODE_ERROR_CODES.includes(result.error.code), result.error.code);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("bytes that are not MessagePack are PROTO_MALFORMED", () => {
    const cases = [
      new Uint8Array(0),
      Uint8Array.from([0xd9, 0xff, 0x61]),
      Uint8Array.from([0x81, 0xa1, 0x74]),
      Uint8Array.from([...encodeMessage({ t: "refresh", refreshToken: TOKEN }), 0x00]),
    ];
    for (const bytes of cases) {
      expectError(requestCodec("refresh").decode(bytes), ProtocolErrorCode.Malformed);
      expectError(replyCodec("refresh").decode(bytes), ProtocolErrorCode.Malformed);
    }
  });

  it("a request that is not a map, or has no string t, is PROTO_INVALID_MESSAGE", () => {
    for (const value of [1, "login", null, [firstRequest("login")], { verb: "login" }, { t: 1 }]) {
      expectError(requestCodec("login").decode(raw(value)), ProtocolErrorCode.InvalidMessage);
    }
  });
});

describe("lobby messages - subjects", () => {
  it("every verb's subject is <prefix>.svc.lobby.<verb>", () => {
    for (const prefix of ["meridian", "mt.abc123def0"]) {
      const subjects = createSubjects({ prefix });
      for (const verb of LOBBY_VERBS) {
        assert.equal(lobbySubject(subjects, verb), `${prefix}.svc.lobby.${verb}`);
      }
    }
    assert.equal(lobbySubject(createSubjects(), "login"), "meridian.svc.lobby.login");
  });

  it("every verb is one valid subject token (lowercase words joined by _)", () => {
    for (const verb of LOBBY_VERBS) {
      assert.match(verb, /^[a-z][a-z0-9_]*$/);
      assert.equal(lobbySubject(createSubjects(), verb).split(".").length, 4);
    }
  });

  it("the lobby serves under service name lobby in the queue group lobby", () => {
    assert.equal(LOBBY_SERVICE, "lobby");
    assert.equal(LOBBY_QUEUE_GROUP, "lobby");
  });

  it("subjects of different verbs differ", () => {
    const subjects = createSubjects();
    const all = LOBBY_VERBS.map((verb) => lobbySubject(subjects, verb));
    assert.equal(new Set(all).size, all.length);
  });
});
