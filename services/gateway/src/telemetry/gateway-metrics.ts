/**
 * The gateway's metrics, read from its counters when a scrape or an export asks (observable
 * instruments): nothing is recorded on the accept, login or relay paths. Register once, after
 * `initTelemetry` turned telemetry on.
 *
 * | metric | kind | attributes |
 * | --- | --- | --- |
 * | `meridian.gateway.connections` | gauge | |
 * | `meridian.gateway.players` | gauge | |
 * | `meridian.gateway.accepts` | counter | |
 * | `meridian.gateway.accepts.rejected` | counter | `reason` (`denied` = banned, per-IP limits…) |
 * | `meridian.gateway.logins` | counter | `result` (`ok`, `failed`), `code` (failures) |
 * | `meridian.gateway.inputs.forwarded` | counter | |
 *
 * @module
 */
import { getMeter } from "@meridian/telemetry";
import type { GatewayStats } from "../gateway.js";
import type { RouterStats } from "../routing/index.js";

/** Registers the gateway's observable metrics on the `meridian.gateway` meter. */
export function registerGatewayMetrics(
  gatewayId: string,
  stats: () => GatewayStats,
  router?: () => RouterStats,
): void {
  const meter = getMeter("gateway");
  const base = { "meridian.instance": gatewayId };
  const connections = meter.createObservableGauge("meridian.gateway.connections", {
    description: "Open player connections",
  });
  const players = meter.createObservableGauge("meridian.gateway.players", {
    description: "Logged-in players",
  });
  const accepts = meter.createObservableCounter("meridian.gateway.accepts", {
    description: "Connections accepted",
  });
  const rejected = meter.createObservableCounter("meridian.gateway.accepts.rejected", {
    description: "Connections refused by the accept guard, by reason",
  });
  const logins = meter.createObservableCounter("meridian.gateway.logins", {
    description: "Logins through this gateway, by result",
  });
  const forwarded = meter.createObservableCounter("meridian.gateway.inputs.forwarded", {
    description: "Player inputs forwarded to zone servers",
  });
  meter.addBatchObservableCallback(
    (result) => {
      const s = stats();
      result.observe(connections, s.connections, base);
      result.observe(players, s.players, base);
      result.observe(accepts, s.accepted, base);
      for (const [reason, n] of Object.entries(s.rejected)) result.observe(rejected, n, { ...base, reason });
      result.observe(logins, s.loginsOk, { ...base, result: "ok" });
      for (const [code, n] of Object.entries(s.loginsFailed)) {
        result.observe(logins, n, { ...base, result: "failed", code });
      }
      if (router !== undefined) result.observe(forwarded, router().inputsForwarded, base);
    },
    [connections, players, accepts, rejected, logins, forwarded],
  );
}
