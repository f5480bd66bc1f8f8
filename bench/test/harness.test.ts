import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import {
  Better,
  DEFAULT_DURATION_MS,
  DEFAULT_RUNS,
  type Figure,
  formatBenchLine,
  formatTable,
  makeFigure,
  matchesFilter,
  median,
  missesTarget,
  parseCliArgs,
  percentile,
  roundRatio,
  roundValue,
  UsageError,
} from "../src/harness.js";
import { loopbackSource } from "../src/load/echo-load.js";
import { lengthPrefixProtocol } from "../src/load/tcp-echo-load.js";
import { webSocketProtocol } from "../src/load/ws-raw-echo-load.js";

describe("harness - filter", () => {
  it("filter - no filter selects everything", () => {
    assert.equal(matchesFilter("netengine.tcp-echo", []), true);
  });

  it("filter - matches names starting with any filter", () => {
    assert.equal(matchesFilter("netengine.tcp-echo", ["netengine"]), true);
    assert.equal(matchesFilter("netengine.tcp-echo", ["lobby", "netengine.tcp"]), true);
    assert.equal(matchesFilter("netengine.ws-echo", ["netengine.tcp"]), false);
    assert.equal(matchesFilter("netengine.tcp-echo", ["tcp-echo"]), false);
  });
});

describe("harness - median", () => {
  it("median - odd count takes the middle value, whatever the order", () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([5]), 5);
  });

  it("median - even count takes the mean of the two middle values", () => {
    assert.equal(median([4, 1, 3, 2]), 2.5);
  });

  it("median - does not reorder its input", () => {
    const values = [3, 1, 2];
    median(values);
    assert.deepEqual(values, [3, 1, 2]);
  });

  it("median - an empty list is a RangeError", () => {
    assert.throws(() => median([]), RangeError);
  });
});

describe("harness - percentile", () => {
  it("percentile - nearest rank: the smallest value with at least q of the list at or below it", () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i); // 100 … 1, unsorted
    assert.equal(percentile(values, 0.99), 99);
    assert.equal(percentile(values, 0.5), 50);
    assert.equal(percentile(values, 1), 100);
    assert.equal(percentile([7], 0.99), 7);
    assert.equal(percentile([1, 2, 3], 0.99), 3);
  });

  it("percentile - does not reorder its input; bad input is a RangeError", () => {
    const values = [3, 1, 2];
    percentile(values, 0.5);
    assert.deepEqual(values, [3, 1, 2]);
    assert.throws(() => percentile([], 0.5), RangeError);
    assert.throws(() => percentile([1], 0), RangeError);
    assert.throws(() => percentile([1], 1.5), RangeError);
  });
});

describe("harness - rounding", () => {
  it("rounding - ratio to three decimals, null without a baseline", () => {
    assert.equal(roundRatio(1_800_000, 2_000_000), 0.9);
    assert.equal(roundRatio(2, 3), 0.667);
    assert.equal(roundRatio(1, 0), null);
    assert.equal(roundRatio(Number.NaN, 1), null);
  });

  it("rounding - values from 100 up are whole, smaller ones keep three significant digits", () => {
    assert.equal(roundValue(1_234_567.89), 1_234_568);
    assert.equal(roundValue(230.4), 230);
    assert.equal(roundValue(12.345), 12.3);
    assert.equal(roundValue(0.012345), 0.0123);
    assert.equal(roundValue(0), 0);
  });

  it("rounding - makeFigure computes the ratio from the rounded value and baseline", () => {
    const figure = makeFigure({
      name: "x",
      value: 1_600_000.4,
      unit: "frames/s",
      baseline: 2_000_000.2,
      target: 0.8,
    });
    assert.deepEqual(figure, {
      name: "x",
      value: 1_600_000,
      unit: "frames/s",
      baseline: 2_000_000,
      ratio: 0.8,
      target: 0.8,
    });
    assert.equal(missesTarget(figure), false);
    assert.equal(missesTarget({ ...figure, ratio: 0.799 }), true);
    assert.equal(missesTarget({ ...figure, target: undefined }), false);
  });

  it("target - a lower-is-better figure misses when its ratio is above the target", () => {
    const figure = makeFigure({
      name: "lobby.locate-p99",
      value: 700,
      unit: "µs",
      baseline: 500,
      target: 1.5,
      better: Better.Lower,
    });
    assert.equal(figure.ratio, 1.4);
    assert.equal(figure.better, "lower");
    assert.equal(missesTarget(figure), false);
    assert.equal(missesTarget({ ...figure, ratio: 1.5 }), false);
    assert.equal(missesTarget({ ...figure, ratio: 1.501 }), true);
    assert.equal(missesTarget({ ...figure, ratio: 0.5 }), false);
    assert.equal(missesTarget({ ...figure, better: Better.Higher, ratio: 1.4 }), true);
  });
});

describe("harness - BENCH line", () => {
  const figure: Figure = {
    runs: 3,
    target: 0.8,
    ratio: 0.9,
    baseline: 2_000_000,
    unit: "frames/s",
    value: 1_800_000,
    name: "netengine.tcp-echo",
  };

  it("BENCH line - the five fixed keys come first, in order, then the extra fields", () => {
    assert.equal(
      formatBenchLine(figure),
      'BENCH {"name":"netengine.tcp-echo","value":1800000,"unit":"frames/s","baseline":2000000,"ratio":0.9,"runs":3,"target":0.8}',
    );
  });

  it("BENCH line - is one line of JSON after the prefix", () => {
    const line = formatBenchLine({ ...figure, note: "two\nlines" });
    assert.equal(line.includes("\n"), false);
    assert.equal(line.startsWith("BENCH {"), true);
    assert.equal((JSON.parse(line.slice("BENCH ".length)) as { note: string }).note, "two\nlines");
  });

  it("BENCH line - a missing ratio is null", () => {
    assert.match(formatBenchLine({ ...figure, ratio: null }), /"ratio":null/);
  });
});

describe("harness - table", () => {
  it("table - one header and one row per figure, misses marked below target", () => {
    const table = formatTable([
      makeFigure({ name: "a.one", value: 900, unit: "op/s", baseline: 1000, target: 0.8 }),
      makeFigure({ name: "a.two", value: 500, unit: "op/s", baseline: 1000, target: 0.8 }),
      makeFigure({ name: "a.three", value: 5, unit: "µs", baseline: 4 }),
    ]);
    const lines = table.split("\n");
    assert.equal(lines.length, 4);
    assert.match(lines[0] ?? "", /^figure\s+value\s+unit\s+baseline\s+ratio\s+target\s+status$/);
    assert.match(lines[1] ?? "", /^a\.one\s+900\s+op\/s\s+1,000\s+0\.900\s+≥ 0\.8\s+ok$/);
    assert.match(lines[2] ?? "", /below target$/);
    assert.match(lines[3] ?? "", /1\.250\s+-$/);
  });

  it("table - a lower-is-better figure shows ≤ its target and misses as above target", () => {
    const lower = { unit: "µs", baseline: 500, target: 1.5, better: Better.Lower };
    const lines = formatTable([
      makeFigure({ name: "b.ok", value: 700, ...lower }),
      makeFigure({ name: "b.slow", value: 800, ...lower }),
    ]).split("\n");
    assert.match(lines[1] ?? "", /^b\.ok\s+700\s+µs\s+500\s+1\.400\s+≤ 1\.5\s+ok$/);
    assert.match(lines[2] ?? "", /1\.600\s+≤ 1\.5\s+above target$/);
  });

  it("BENCH line - a lower-is-better figure carries better: lower after the fixed keys", () => {
    const figure = makeFigure({
      name: "b",
      value: 700,
      unit: "µs",
      baseline: 500,
      target: 1.5,
      better: Better.Lower,
    });
    assert.equal(
      formatBenchLine(figure),
      'BENCH {"name":"b","value":700,"unit":"µs","baseline":500,"ratio":1.4,"target":1.5,"better":"lower"}',
    );
  });
});

describe("harness - command line", () => {
  it("command line - defaults without arguments", () => {
    const options = parseCliArgs([]);
    assert.deepEqual(options.filters, []);
    assert.equal(options.durationMs, DEFAULT_DURATION_MS);
    assert.equal(options.runs, DEFAULT_RUNS);
    assert.equal(options.cpuProfDir, undefined);
  });

  it("command line - filters, both flag spellings, and a bare -- from the package manager", () => {
    const options = parseCliArgs([
      "--",
      "netengine",
      "--runs",
      "5",
      "--duration-ms=1500",
      "--warmup-ms",
      "0",
    ]);
    assert.deepEqual(options.filters, ["netengine"]);
    assert.equal(options.runs, 5);
    assert.equal(options.durationMs, 1500);
    assert.equal(options.warmupMs, 0);
  });

  it("command line - bad values and unknown flags are usage errors", () => {
    for (const argv of [
      ["--runs", "0"],
      ["--runs", "2.5"],
      ["--duration-ms"],
      ["--durations", "1"],
      ["--runs=-1"],
    ]) {
      assert.throws(() => parseCliArgs(argv), UsageError, argv.join(" "));
    }
  });
});

describe("load - loopback sources", () => {
  it("loopback sources - one distinct 127/8 address per connection, skipping 127.0.0.1", () => {
    assert.equal(loopbackSource(0), "127.0.0.2");
    assert.equal(loopbackSource(253), "127.0.0.255");
    assert.equal(loopbackSource(254), "127.0.1.0");
    const all = new Set(Array.from({ length: 1000 }, (_, i) => loopbackSource(i)));
    assert.equal(all.size, 1000);
  });
});

describe("load - wire formats", () => {
  it("wire formats - length-prefixed frames carry a 4-byte big-endian length and the payload", () => {
    const protocol = lengthPrefixProtocol(32);
    const frames = protocol.buildFrames(3);
    assert.equal(frames.length, 3 * 36);
    assert.equal(protocol.sendFrameBytes, 36);
    for (let at = 0; at < frames.length; at += 36) {
      assert.equal(frames.readUInt32BE(at), 32);
      assert.equal(protocol.checkHeader(frames, at), true);
    }
    assert.equal(protocol.checkHeader(Buffer.from([0, 0, 0, 33]), 0), false);
  });

  it("wire formats - WebSocket client frames are masked binary frames that unmask to the payload", () => {
    const protocol = webSocketProtocol(32);
    const frames = protocol.buildFrames(2);
    assert.equal(frames.length, 2 * 38);
    for (let i = 0; i < 2; i++) {
      const at = i * 38;
      assert.equal(frames[at], 0x82);
      assert.equal(frames[at + 1], 0x80 | 32);
      const mask = frames.subarray(at + 2, at + 6);
      const payload = frames.subarray(at + 6, at + 38).map((b, j) => b ^ (mask[j & 3] as number));
      assert.deepEqual(
        [...payload],
        Array.from({ length: 32 }, (_, j) => (i + j) & 0xff),
      );
    }
    assert.equal(protocol.echoFrameBytes, 34);
    assert.equal(protocol.checkHeader(Buffer.from([0x82, 32]), 0), true);
    assert.equal(protocol.checkHeader(Buffer.from([0x89, 0]), 0), false);
  });

  it("wire formats - the WebSocket upgrade response must accept the key and negotiate nothing", () => {
    const protocol = webSocketProtocol(32);
    const request = protocol.upgradeRequest?.({
      host: "127.0.0.1",
      port: 1,
      connections: 1,
      window: 1,
      payloadBytes: 32,
    });
    const key = /Sec-WebSocket-Key: (\S+)/.exec(request ?? "")?.[1] ?? "";
    const accept = createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
    const ok = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: ${accept}`;
    assert.equal(protocol.checkUpgradeResponse?.(ok), undefined);
    assert.match(protocol.checkUpgradeResponse?.("HTTP/1.1 404 Not Found") ?? "", /refused/);
    assert.match(protocol.checkUpgradeResponse?.(ok.replace(accept, "x")) ?? "", /Accept/);
    assert.match(protocol.checkUpgradeResponse?.(`${ok}\r\nSec-WebSocket-Extensions: x`) ?? "", /extension/);
  });
});
