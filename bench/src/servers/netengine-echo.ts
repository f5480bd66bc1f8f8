/**
 * The netengine side of the echo benchmarks: `listen()` with the example EchoServerProtocol.
 *
 * Arguments: `tcp` or `ws`, then `guarded` for the default accept guard (default: `guard: false`).
 */
import { EchoServerProtocol, listen } from "@meridian/netengine";
import { serve } from "./serve.js";

const transport = process.argv[2];
if (transport !== "tcp" && transport !== "ws") {
  throw new Error(`usage: netengine-echo.ts tcp|ws [guarded], got ${String(transport)}`);
}
const guarded = process.argv[3] === "guarded";

await serve(async () => {
  const listener = await listen({
    transport,
    host: "127.0.0.1",
    port: 0,
    handler: new EchoServerProtocol(),
    ...(guarded ? {} : { guard: false as const }),
  });
  return { port: listener.port, close: () => listener.close({ goodbye: false, timeoutMs: 1000 }) };
});
