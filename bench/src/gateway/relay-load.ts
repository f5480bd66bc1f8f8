/**
 * The relay load of `gateway.relay`: K WebSocket clients (hand-written RFC 6455, see
 * `raw-ws-client.ts`), each keeping W `input` messages in flight and sending one new `input` per
 * message it gets back (an `update` from the gateway; the input itself from the bare echo), so the
 * two servers see the same traffic: the same client frames, one reply per frame.
 *
 * Inputs are built by hand, not by the codec: a fixed MessagePack layout (`{t, seq, data}` with `seq`
 * always a uint32 and `data` a 16-byte bin, 41 bytes; the protocol lets a sender use any integer
 * format) in a masked template per connection, where only the four `seq` bytes change. Per read the
 * client counts the replies, checks each one's sequence (`ack` of an update, `seq` of an echoed
 * input: each must be the previous one + 1, so a lost, doubled or reordered message fails the run)
 * and answers with ONE write of as many new inputs.
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import { FIN_BINARY, type FrameSink, type RawWsConnection } from "./raw-ws-client.js";

/** Bytes of an input's `data` (a MessagePack bin). */
export const INPUT_DATA_BYTES = 16;

const utf8 = (text: string): number[] => [...Buffer.from(text, "latin1")];
/** `{ t: "input", seq: <uint32>, data: <bin 16> }`, seq bytes zero. */
const INPUT_HEAD = [
  0x83,
  0xa1,
  ...utf8("t"),
  0xa5,
  ...utf8("input"),
  0xa3,
  ...utf8("seq"),
  0xce,
  0,
  0,
  0,
  0,
  0xa4,
  ...utf8("data"),
  0xc4,
  INPUT_DATA_BYTES,
];
/** Offset of the four `seq` bytes in an input's payload. */
const SEQ_AT = 14;
/** An input's payload size (41 bytes). */
export const INPUT_PAYLOAD_BYTES = INPUT_HEAD.length + INPUT_DATA_BYTES;
/** A masked client frame of one input: 2-byte header, 4-byte mask, payload. */
const INPUT_FRAME_BYTES = 6 + INPUT_PAYLOAD_BYTES;
/** What every `update` the gateway relays starts with: `{ t: "update", tick, ack, data }` (4 keys). */
const UPDATE_PREFIX = Buffer.from([0x84, 0xa1, ...utf8("t"), 0xa6, ...utf8("update"), 0xa4, ...utf8("tick")]);
const ACK_KEY = Buffer.from([0xa3, ...utf8("ack")]);
const INPUT_PREFIX = Buffer.from(INPUT_HEAD.slice(0, SEQ_AT));

/** The unmasked payload of the input `seq` with `data` (for tests and for the bare echo's expectations). */
export function inputPayload(seq: number, data: Uint8Array): Buffer {
  const payload = Buffer.from([...INPUT_HEAD, ...data]);
  payload.writeUInt32BE(seq, SEQ_AT);
  return payload;
}

/** What the replies are. */
export const ReplyKind = {
  /** Gateway `update` messages: `ack` is the sequence. */
  Update: "update",
  /** The inputs themselves, echoed: `seq` is the sequence. */
  Echo: "echo",
} as const;
export type ReplyKind = (typeof ReplyKind)[keyof typeof ReplyKind];

/** Reads a MessagePack unsigned integer at `at`: [value, bytes], or undefined when it is not one. */
function readUint(data: Buffer, at: number): [number, number] | undefined {
  const b = data[at];
  if (b === undefined) return undefined;
  if (b < 0x80) return [b, 1];
  if (b === 0xcc) return [data[at + 1] as number, 2];
  if (b === 0xcd) return [data.readUInt16BE(at + 1), 3];
  if (b === 0xce) return [data.readUInt32BE(at + 1), 5];
  return undefined;
}

function startsWith(data: Buffer, at: number, prefix: Buffer): boolean {
  for (let i = 0; i < prefix.length; i++) if (data[at + i] !== prefix[i]) return false;
  return true;
}

/** The sequence a reply carries, or undefined when it is not the expected kind of message. */
function replySequence(kind: ReplyKind, data: Buffer, start: number, end: number): number | undefined {
  if (kind === ReplyKind.Echo) {
    if (end - start !== INPUT_PAYLOAD_BYTES || !startsWith(data, start, INPUT_PREFIX)) return undefined;
    return data.readUInt32BE(start + SEQ_AT);
  }
  if (!startsWith(data, start, UPDATE_PREFIX)) return undefined;
  const tick = readUint(data, start + UPDATE_PREFIX.length);
  if (tick === undefined) return undefined;
  const at = start + UPDATE_PREFIX.length + tick[1];
  if (!startsWith(data, at, ACK_KEY)) return undefined;
  return readUint(data, at + ACK_KEY.length)?.[0];
}

/** Counters of a relay load, over all its clients. */
export class RelayCounters {
  /** Replies received so far. */
  received = 0;
  /** Inputs sent and not answered yet. */
  inFlight = 0;
  error: Error | undefined;

  fail(error: Error): void {
    this.error ??= error;
  }
}

/** One client of the load: a {@link FrameSink} on its connection. */
class RelayClient implements FrameSink {
  readonly #conn: RawWsConnection;
  readonly #kind: ReplyKind;
  readonly #counters: RelayCounters;
  readonly #template: Buffer;
  readonly #mask: Buffer;
  /** Sequence of the next input to send. */
  #nextSeq: number;
  /** Sequence the next reply must carry. */
  #expect: number;
  #replies = 0;
  #sending = false;
  readonly label: string;

  constructor(conn: RawWsConnection, kind: ReplyKind, counters: RelayCounters, label: string, data: Buffer) {
    this.#conn = conn;
    this.#kind = kind;
    this.#counters = counters;
    this.label = label;
    this.#mask = conn.mask;
    this.#nextSeq = 1;
    this.#expect = 1;
    const payload = inputPayload(0, data);
    const frame = Buffer.alloc(INPUT_FRAME_BYTES);
    frame[0] = FIN_BINARY;
    frame[1] = 0x80 | INPUT_PAYLOAD_BYTES;
    this.#mask.copy(frame, 2);
    for (let i = 0; i < payload.length; i++) {
      frame[6 + i] = (payload[i] as number) ^ (this.#mask[i & 3] as number);
    }
    this.#template = frame;
    conn.onFailure = (error) => counters.fail(new Error(`${label}: ${error.message}`));
    conn.setSink(this);
  }

  /** Sends `n` new inputs in one write. */
  send(n: number): void {
    const frames = Buffer.allocUnsafe(n * INPUT_FRAME_BYTES);
    const mask = this.#mask;
    for (let i = 0; i < n; i++) {
      const at = i * INPUT_FRAME_BYTES;
      this.#template.copy(frames, at);
      const seq = this.#nextSeq++;
      // Seq bytes sit at payload offsets 14..17: mask bytes (14 + k) & 3.
      const s = at + 6 + SEQ_AT;
      frames[s] = ((seq >>> 24) & 0xff) ^ (mask[2] as number);
      frames[s + 1] = ((seq >>> 16) & 0xff) ^ (mask[3] as number);
      frames[s + 2] = ((seq >>> 8) & 0xff) ^ (mask[0] as number);
      frames[s + 3] = (seq & 0xff) ^ (mask[1] as number);
    }
    this.#counters.inFlight += n;
    this.#conn.socket.write(frames);
  }

  set sending(on: boolean) {
    this.#sending = on;
  }

  message(data: Buffer, start: number, end: number, opcode: number): void {
    if (opcode !== 0x2) return; // a ping: netengine's heartbeat is configured far beyond a run
    const seq = replySequence(this.#kind, data, start, end);
    if (seq !== this.#expect) {
      const head = data.subarray(start, Math.min(end, start + 48)).toString("hex");
      this.#counters.fail(
        new Error(
          `${this.label}: expected the ${this.#kind} of input ${this.#expect}, got ${seq === undefined ? `another message (${head}…)` : `sequence ${seq}`}`,
        ),
      );
      this.#conn.socket.destroy();
      return;
    }
    this.#expect++;
    this.#replies++;
  }

  endOfRead(): void {
    const n = this.#replies;
    if (n === 0) return;
    this.#replies = 0;
    const counters = this.#counters;
    counters.received += n;
    counters.inFlight -= n;
    if (this.#sending) this.send(n);
  }
}

/** A relay load over already open (and, for the gateway, logged-in) connections. */
export class RelayLoad {
  readonly counters = new RelayCounters();
  readonly #clients: RelayClient[];
  readonly #window: number;

  constructor(
    connections: readonly RawWsConnection[],
    kind: ReplyKind,
    window: number,
    label: string,
    data: Buffer = randomBytes(INPUT_DATA_BYTES),
  ) {
    this.#window = window;
    this.#clients = connections.map(
      (conn, i) => new RelayClient(conn, kind, this.counters, `${label} client ${i}`, data),
    );
  }

  /** Every client sends `window` inputs and then one per reply. */
  start(): void {
    for (const client of this.#clients) {
      client.sending = true;
      client.send(this.#window);
    }
  }

  /** Stops sending new inputs and waits until every input in flight was answered. */
  async pause(timeoutMs = 10_000): Promise<void> {
    for (const client of this.#clients) client.sending = false;
    const deadline = performance.now() + timeoutMs;
    while (this.counters.inFlight > 0 && this.counters.error === undefined) {
      if (performance.now() > deadline) {
        throw new Error(`${this.counters.inFlight} inputs still unanswered ${timeoutMs} ms after the run`);
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    if (this.counters.error !== undefined) throw this.counters.error;
  }
}
