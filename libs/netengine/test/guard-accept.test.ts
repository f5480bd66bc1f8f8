import * as assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { NetEngineErrorCode, OptionsError } from "../src/errors.js";
import {
  AcceptGuard,
  type AcceptGuardOptions,
  type AcceptVerdict,
  DEFAULT_IPV6_LIMIT_PREFIX,
  DEFAULT_MAX_CONNECTIONS_PER_IP,
  DEFAULT_MAX_NEW_CONNECTIONS_PER_IP_PER_SECOND,
  DEFAULT_PRE_AUTH_DEADLINE_MS,
  PreAuthOutcome,
  RejectReason,
} from "../src/guard/accept-guard.js";
import { AddressList, type AddressListSource } from "../src/guard/address-list.js";
import { type ParsedIp, parseIp } from "../src/guard/ip-address.js";
import { PerIpTracker } from "../src/guard/per-ip-tracker.js";

/** A settable clock. */
function clock(start = 0): { now: () => number; set(t: number): void; advance(ms: number): void } {
  let t = start;
  return {
    now: () => t,
    set: (value) => {
      t = value;
    },
    advance: (ms) => {
      t += ms;
    },
  };
}

function guard(options: AcceptGuardOptions = {}): AcceptGuard {
  return new AcceptGuard({ tolerance: false, now: () => 0, ...options });
}

function reason(verdict: AcceptVerdict): string {
  return verdict.ok ? "ok" : verdict.reason;
}

function admitted(verdict: AcceptVerdict): ParsedIp {
  assert.ok(verdict.ok, `expected ok, got ${reason(verdict)}`);
  return verdict.ip;
}

function assertOptionsError(fn: () => unknown): void {
  assert.throws(
    fn,
    (error: unknown) => error instanceof OptionsError && error.code === NetEngineErrorCode.InvalidOptions,
  );
}

describe("guard accept - options", () => {
  it("applies documented defaults and freezes them", () => {
    const g = new AcceptGuard();
    assert.equal(g.options.maxConnectionsPerIp, DEFAULT_MAX_CONNECTIONS_PER_IP);
    assert.equal(DEFAULT_MAX_CONNECTIONS_PER_IP, 32);
    assert.equal(g.options.maxNewConnectionsPerIpPerSecond, DEFAULT_MAX_NEW_CONNECTIONS_PER_IP_PER_SECOND);
    assert.equal(DEFAULT_MAX_NEW_CONNECTIONS_PER_IP_PER_SECOND, 16);
    assert.equal(g.options.preAuthDeadlineMs, DEFAULT_PRE_AUTH_DEADLINE_MS);
    assert.equal(DEFAULT_PRE_AUTH_DEADLINE_MS, 5000);
    assert.equal(g.options.ipv6LimitPrefix, DEFAULT_IPV6_LIMIT_PREFIX);
    assert.equal(g.preAuthDeadlineMs(), 5000);
    assert.ok(Object.isFrozen(g.options));
    assert.equal(g.tolerance.enabled, true);
    assert.equal(g.tolerance.level, 0);
  });

  it("rejects invalid options with OptionsError", () => {
    const bad: unknown[] = [
      { maxConnectionsPerIp: 0 },
      { maxConnectionsPerIp: 1.5 },
      { maxConnectionsPerIp: Number.NaN },
      { maxNewConnectionsPerIpPerSecond: -1 },
      { preAuthDeadlineMs: 0 },
      { preAuthDeadlineMs: Number.POSITIVE_INFINITY },
      { ipv6LimitPrefix: 129 },
      { deny: {} },
      { allow: ["192.0.2.1"] },
      { now: 5 },
      { tolerance: { factor: 1 } },
      { tolerance: { relaxBelow: 0.6, tightenAbove: 0.5 } },
      { tolerance: { minSamples: 0 } },
      { tolerance: { windowMs: 1000, bucketMs: 2000 } },
      { tolerance: { maxLevel: -1 } },
      { tolerance: "yes" },
    ];
    for (const options of bad) {
      assertOptionsError(() => new AcceptGuard(options as AcceptGuardOptions));
    }
  });
});

describe("guard accept - address checks", () => {
  it("refuses a missing or unparsable address as invalid_address, without an ip", () => {
    const g = guard();
    for (const address of [undefined, "", "garbage", "1.2.3.4:5"]) {
      const verdict = g.admit(address);
      assert.equal(verdict.ok, false);
      assert.equal(reason(verdict), RejectReason.InvalidAddress);
      assert.equal(verdict.ip, undefined);
    }
    assert.equal(g.counters().invalid_address, 4);
  });

  it("checks deny before allow, and allow before per-IP limits", () => {
    const deny = new AddressList(["192.0.2.0/24"]);
    const allow = new AddressList(["192.0.2.0/24", "198.51.100.1"]);
    const g = guard({ deny, allow, maxConnectionsPerIp: 1 });
    const verdict = g.admit("192.0.2.9");
    assert.equal(reason(verdict), RejectReason.Denied);
    assert.equal(verdict.ip?.text, "192.0.2.9");
    assert.equal(reason(g.admit("::ffff:192.0.2.9")), RejectReason.Denied);
    assert.equal(reason(g.admit("203.0.113.1")), RejectReason.NotAllowed);
    admitted(g.admit("198.51.100.1"));
    assert.equal(reason(g.admit("198.51.100.1")), RejectReason.TooManyConnections);
    // A ban lands on an address already at its limit: denied wins.
    deny.add("198.51.100.1");
    assert.equal(reason(g.admit("198.51.100.1")), RejectReason.Denied);
    // Refusals by the lists do not count as open connections.
    assert.equal(g.openConnections(parseIp("192.0.2.9")), 0);
  });

  it("lets everything not denied in when no allow list is set", () => {
    const g = guard({ deny: new AddressList(["2001:db8::/32"]) });
    assert.equal(reason(g.admit("2001:db8::1")), RejectReason.Denied);
    assert.equal(reason(g.admit("fe80::1%eth0")), "ok");
    assert.equal(reason(g.admit("127.0.0.1")), "ok");
  });

  it("accepts any AddressListSource, sees its changes at once", () => {
    const banned = new Set<string>();
    const mirror: AddressListSource = {
      has: (ip) => banned.has(ip.text),
      get size() {
        return banned.size;
      },
    };
    const g = guard({ deny: mirror });
    assert.equal(reason(g.admit("203.0.113.5")), "ok");
    banned.add("203.0.113.5");
    assert.equal(reason(g.admit("203.0.113.5")), RejectReason.Denied);
  });

  it("denies with a 100,000-entry list", () => {
    const entries = Array.from(
      { length: 100_000 },
      (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    );
    const g = guard({
      deny: new AddressList(entries),
      maxNewConnectionsPerIpPerSecond: Number.POSITIVE_INFINITY,
    });
    assert.equal(reason(g.admit("10.1.134.159")), RejectReason.Denied); // entry 99,999
    assert.equal(reason(g.admit("10.1.134.160")), "ok");
    assert.equal(reason(g.admit("::ffff:10.0.0.0")), RejectReason.Denied);
  });
});

describe("guard accept - per-IP limits", () => {
  it("refuses above maxConnectionsPerIp, lets in again after a release", () => {
    const g = guard({ maxConnectionsPerIp: 3, maxNewConnectionsPerIpPerSecond: Number.POSITIVE_INFINITY });
    const ips = [1, 2, 3].map(() => admitted(g.admit("198.51.100.7")));
    assert.equal(reason(g.admit("198.51.100.7")), RejectReason.TooManyConnections);
    assert.equal(
      reason(g.admit("::ffff:198.51.100.7")),
      RejectReason.TooManyConnections,
      "mapped is the same IP",
    );
    assert.equal(reason(g.admit("198.51.100.8")), "ok", "another IP has its own count");
    assert.equal(g.openConnections(parseIp("198.51.100.7")), 3);
    g.release(ips[0] as ParsedIp);
    assert.equal(g.openConnections(parseIp("198.51.100.7")), 2);
    admitted(g.admit("198.51.100.7"));
    assert.equal(reason(g.admit("198.51.100.7")), RejectReason.TooManyConnections);
  });

  it("never takes an open count below zero", () => {
    const g = guard({ maxConnectionsPerIp: 2, maxNewConnectionsPerIpPerSecond: Number.POSITIVE_INFINITY });
    const ip = admitted(g.admit("203.0.113.9"));
    for (let i = 0; i < 5; i++) g.release(ip);
    g.release(parseIp("203.0.113.10")); // never admitted
    assert.equal(g.openConnections(ip), 0);
    admitted(g.admit("203.0.113.9"));
    admitted(g.admit("203.0.113.9"));
    assert.equal(reason(g.admit("203.0.113.9")), RejectReason.TooManyConnections);
  });

  it("property: open counts follow admits and releases, never negative, never above the limit", () => {
    const step = fc.record({ admit: fc.boolean(), who: fc.integer({ min: 0, max: 3 }) });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.array(step, { maxLength: 100 }), (max, steps) => {
        const g = guard({
          maxConnectionsPerIp: max,
          maxNewConnectionsPerIpPerSecond: Number.POSITIVE_INFINITY,
        });
        const model = [0, 0, 0, 0];
        for (const s of steps) {
          const ip = parseIp(`192.0.2.${s.who}`);
          if (s.admit) {
            const verdict = g.admit(ip.text);
            assert.equal(verdict.ok, (model[s.who] as number) < max);
            if (verdict.ok) model[s.who] = (model[s.who] as number) + 1;
          } else {
            g.release(ip);
            model[s.who] = Math.max(0, (model[s.who] as number) - 1);
          }
          assert.equal(g.openConnections(ip), model[s.who]);
        }
      }),
    );
  });

  it("counts IPv6 addresses of one /64 together by default, each alone with ipv6LimitPrefix 128", () => {
    const options = { maxConnectionsPerIp: 2, maxNewConnectionsPerIpPerSecond: Number.POSITIVE_INFINITY };
    const g = guard(options);
    admitted(g.admit("2001:db8:1:2::1"));
    admitted(g.admit("2001:db8:1:2:ffff::2"));
    assert.equal(reason(g.admit("2001:db8:1:2::3")), RejectReason.TooManyConnections);
    admitted(g.admit("2001:db8:1:3::1"));
    const perAddress = guard({ ...options, ipv6LimitPrefix: 128 });
    for (const a of ["2001:db8::1", "2001:db8::1", "2001:db8::2", "2001:db8::2"])
      admitted(perAddress.admit(a));
    assert.equal(reason(perAddress.admit("2001:db8::1")), RejectReason.TooManyConnections);
  });

  it("rate-limits new connections per IP over a sliding second", () => {
    const c = clock(10_000);
    const g = guard({
      now: c.now,
      maxNewConnectionsPerIpPerSecond: 4,
      maxConnectionsPerIp: Number.POSITIVE_INFINITY,
    });
    for (let i = 0; i < 4; i++) admitted(g.admit("198.51.100.1"));
    assert.equal(reason(g.admit("198.51.100.1")), RejectReason.RateLimited);
    admitted(g.admit("198.51.100.2"));
    c.advance(999);
    assert.equal(reason(g.admit("198.51.100.1")), RejectReason.RateLimited);
    // Half a second into the next window, half of the previous one still counts: room for 2.
    c.advance(501);
    admitted(g.admit("198.51.100.1"));
    admitted(g.admit("198.51.100.1"));
    assert.equal(reason(g.admit("198.51.100.1")), RejectReason.RateLimited);
    c.advance(2000);
    for (let i = 0; i < 4; i++) admitted(g.admit("198.51.100.1"));
    assert.equal(reason(g.admit("198.51.100.1")), RejectReason.RateLimited);
  });

  it("checks the open-connection limit before the rate", () => {
    const g = guard({ maxConnectionsPerIp: 2, maxNewConnectionsPerIpPerSecond: 2 });
    admitted(g.admit("192.0.2.1"));
    admitted(g.admit("192.0.2.1"));
    assert.equal(reason(g.admit("192.0.2.1")), RejectReason.TooManyConnections);
  });

  it("counts exempt addresses but never limits them", () => {
    const g = guard({
      exempt: new AddressList(["127.0.0.0/8", "::1"]),
      maxConnectionsPerIp: 1,
      maxNewConnectionsPerIpPerSecond: 1,
    });
    for (let i = 0; i < 100; i++) admitted(g.admit("127.0.0.1"));
    assert.equal(g.openConnections(parseIp("127.0.0.1")), 100);
    admitted(g.admit("192.0.2.1"));
    assert.equal(reason(g.admit("192.0.2.1")), RejectReason.TooManyConnections);
  });
});

describe("guard accept - counters", () => {
  it("counts every refusal by reason, admissions and pre-auth outcomes", () => {
    const c = clock();
    const g = guard({
      now: c.now,
      deny: new AddressList(["192.0.2.66"]),
      allow: new AddressList(["192.0.2.0/24"]),
      maxConnectionsPerIp: 2,
      maxNewConnectionsPerIpPerSecond: 3,
    });
    g.admit(undefined);
    g.admit("192.0.2.66");
    g.admit("192.0.2.66");
    g.admit("203.0.113.1");
    const a = admitted(g.admit("192.0.2.1"));
    admitted(g.admit("192.0.2.1"));
    g.admit("192.0.2.1"); // too many
    g.release(a);
    admitted(g.admit("192.0.2.1"));
    g.release(a);
    g.admit("192.0.2.1"); // fourth new one this second
    g.recordPreAuth(PreAuthOutcome.Pruned);
    g.recordPreAuth(PreAuthOutcome.Established);
    g.recordPreAuth(PreAuthOutcome.Established);
    const counters = g.counters();
    assert.deepEqual(counters, {
      accepted: 3,
      invalid_address: 1,
      denied: 2,
      not_allowed: 1,
      too_many_connections: 1,
      rate_limited: 1,
      preauth_pruned: 1,
      preauth_established: 2,
    });
    assert.ok(Object.isFrozen(counters));
    g.admit("garbage");
    assert.equal(counters.invalid_address, 1, "a snapshot does not change");
  });
});

describe("guard accept - memory", () => {
  it("prunes entries of IPs with no open connection once their window expired", () => {
    const c = clock();
    const g = guard({ now: c.now, maxNewConnectionsPerIpPerSecond: Number.POSITIVE_INFINITY });
    const held = admitted(g.admit("192.0.2.1"));
    for (let i = 0; i < 5000; i++) {
      const ip = admitted(g.admit(`10.0.${i >> 8}.${i & 255}`));
      g.release(ip);
    }
    assert.ok(g.trackedAddresses >= 5000, "recent entries are kept to enforce the rate");
    c.advance(2000);
    // Traffic from a handful of IPs triggers amortised sweeps.
    for (let i = 0; i < 12_000; i++) g.release(admitted(g.admit(`172.16.0.${i % 4}`)));
    assert.ok(g.trackedAddresses <= 5, `tracked ${g.trackedAddresses}`);
    assert.equal(g.openConnections(held), 1, "an IP with an open connection is kept");
    g.release(held);
    assert.equal(g.openConnections(held), 0);
  });

  it("drops an idle entry at its last release", () => {
    const c = clock();
    const g = guard({ now: c.now });
    const ip = admitted(g.admit("192.0.2.1"));
    c.advance(5000);
    g.release(ip);
    assert.equal(g.trackedAddresses, 0);
  });

  it("property: the tracker's table stays within twice the recently active IPs plus the sweep batch", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat({ max: 100_000 }), fc.nat({ max: 50 })), { maxLength: 3000 }),
        (events) => {
          const c = clock();
          const tracker = new PerIpTracker({ now: c.now, sweepEvery: 64 });
          const recent: number[] = []; // time of each distinct-IP event
          for (const [n, dt] of events) {
            c.advance(dt);
            const ip = parseIp(`10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`);
            if (tracker.tryOpen(ip, 1, 1) === "ok") tracker.release(ip);
            recent.push(c.now());
            const active = recent.filter((t) => c.now() - t < 2000).length;
            assert.ok(tracker.size <= 2 * active + 64 + 1, `size ${tracker.size}, active ${active}`);
          }
        },
      ),
      { numRuns: 20 },
    );
  });
});

describe("guard accept - adaptive tolerance", () => {
  it("tightens the deadline and the limits under a flood of pruned connections, then relaxes", () => {
    const c = clock();
    const changes: [number, number][] = [];
    const g = new AcceptGuard({
      now: c.now,
      maxConnectionsPerIp: 8,
      maxNewConnectionsPerIpPerSecond: 1000,
      tolerance: { onChange: (level, share) => changes.push([level, share]) },
    });
    for (let i = 0; i < 19; i++) g.recordPreAuth(PreAuthOutcome.Pruned);
    assert.equal(g.tolerance.level, 0, "below minSamples");
    g.recordPreAuth(PreAuthOutcome.Pruned);
    assert.equal(g.tolerance.level, 1);
    assert.equal(g.preAuthDeadlineMs(), 2500);
    assert.equal(g.tolerance.maxConnectionsPerIp, 4);
    assert.equal(g.tolerance.maxNewConnectionsPerIpPerSecond, 500);
    for (let i = 0; i < 4; i++) admitted(g.admit("192.0.2.1"));
    assert.equal(reason(g.admit("192.0.2.1")), RejectReason.TooManyConnections, "the adaptive limit applies");

    for (let i = 0; i < 50; i++) g.recordPreAuth(PreAuthOutcome.Pruned);
    assert.equal(g.tolerance.level, 1, "one step per stepIntervalMs");
    const flood = (): void => {
      c.advance(5000);
      for (let i = 0; i < 20; i++) g.recordPreAuth(PreAuthOutcome.Pruned);
    };
    flood();
    assert.equal(g.preAuthDeadlineMs(), 1250);
    flood();
    assert.equal(g.tolerance.level, 3);
    assert.equal(g.preAuthDeadlineMs(), 1000, "floored at minDeadlineMs");
    assert.equal(g.tolerance.maxConnectionsPerIp, 1);
    flood();
    assert.equal(g.tolerance.level, 3, "at most maxLevel");

    // The flood ends: the window empties, and the level steps back down, one step per interval.
    c.advance(20_000);
    assert.equal(g.tolerance.level, 2);
    assert.equal(g.tolerance.level, 2);
    c.advance(5000);
    assert.equal(g.preAuthDeadlineMs(), 2500);
    c.advance(5000);
    assert.equal(g.preAuthDeadlineMs(), 5000);
    assert.equal(g.tolerance.maxConnectionsPerIp, 8);
    assert.deepEqual(
      changes.map(([level]) => level),
      [1, 2, 3, 2, 1, 0],
    );
    assert.deepEqual(changes[0], [1, 1]);
  });

  it("relaxes when the pruned share falls below relaxBelow, holds in between", () => {
    const c = clock();
    const g = new AcceptGuard({ now: c.now });
    for (let i = 0; i < 20; i++) g.recordPreAuth(PreAuthOutcome.Pruned);
    assert.equal(g.tolerance.level, 1);
    c.advance(1000);
    // 20 pruned, 30 established: share 0.4, between relaxBelow and tightenAbove.
    for (let i = 0; i < 30; i++) g.recordPreAuth(PreAuthOutcome.Established);
    c.advance(4000);
    assert.equal(g.tolerance.level, 1, "0.4 holds the level");
    assert.equal(g.tolerance.samples, 50);
    assert.equal(g.tolerance.share, 0.4);
    // Real clients keep coming: 20 of 150 pruned is below 0.2.
    for (let i = 0; i < 100; i++) g.recordPreAuth(PreAuthOutcome.Established);
    assert.equal(g.tolerance.level, 0);
    assert.equal(g.preAuthDeadlineMs(), 5000);
  });

  it("stays put with tolerance: false", () => {
    const c = clock();
    const g = new AcceptGuard({ now: c.now, tolerance: false });
    for (let i = 0; i < 1000; i++) g.recordPreAuth(PreAuthOutcome.Pruned);
    c.advance(60_000);
    for (let i = 0; i < 1000; i++) g.recordPreAuth(PreAuthOutcome.Pruned);
    assert.equal(g.tolerance.enabled, false);
    assert.equal(g.tolerance.level, 0);
    assert.equal(g.preAuthDeadlineMs(), DEFAULT_PRE_AUTH_DEADLINE_MS);
    assert.equal(g.counters().preauth_pruned, 2000);
  });
});
