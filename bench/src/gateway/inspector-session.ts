/**
 * A minimal client of a Node process's inspector (Chrome DevTools Protocol over WebSocket), for the
 * memory benchmark: a full garbage collection before each RSS reading (`HeapProfiler.collectGarbage`)
 * and the JS heap in use (`Runtime.getHeapUsage`), in a process the bench did not write (the
 * gateway) as well as in its own servers. The process runs with `--inspect=127.0.0.1:0` and prints
 * its `ws://` URL on stderr.
 *
 * @module
 */
import WebSocket from "ws";

/** The line a process started with `--inspect` prints. */
export const INSPECTOR_URL = /Debugger listening on (ws:\/\/\S+)/;

interface Pending {
  readonly resolve: (result: Record<string, unknown>) => void;
  readonly reject: (error: Error) => void;
}

export class InspectorSession {
  readonly #ws: WebSocket;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.on("message", (data: Buffer) => {
      const message = JSON.parse(data.toString("utf8")) as {
        id?: number;
        result?: Record<string, unknown>;
        error?: { message: string };
      };
      if (message.id === undefined) return; // an event
      const pending = this.#pending.get(message.id);
      this.#pending.delete(message.id);
      if (message.error !== undefined) pending?.reject(new Error(`inspector: ${message.error.message}`));
      else pending?.resolve(message.result ?? {});
    });
    ws.on("close", () => {
      for (const pending of this.#pending.values()) pending.reject(new Error("inspector session closed"));
      this.#pending.clear();
    });
  }

  static connect(url: string): Promise<InspectorSession> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      ws.once("open", () => resolve(new InspectorSession(ws)));
      ws.once("error", reject);
    });
  }

  call(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Two full collections (the second frees what the first's finalizers released). */
  async collectGarbage(): Promise<void> {
    await this.call("HeapProfiler.collectGarbage");
    await this.call("HeapProfiler.collectGarbage");
  }

  /** Bytes of JS heap in use. */
  async heapUsed(): Promise<number> {
    const usage = await this.call("Runtime.getHeapUsage");
    return Number(usage.usedSize);
  }

  close(): void {
    this.#ws.close();
  }
}
