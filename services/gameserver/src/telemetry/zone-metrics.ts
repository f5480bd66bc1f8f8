/**
 * The zone server's metrics read from its counters when a scrape or an export asks (observable
 * instruments: nothing on the tick path). The tick and handoff durations are histograms recorded by
 * `ZoneTelemetry`. Register once, after `initTelemetry` turned telemetry on.
 *
 * | metric | kind | attributes |
 * | --- | --- | --- |
 * | `meridian.zone.players` | gauge | |
 * | `meridian.zone.entities` | gauge | (players, NPCs; ghosts not counted) |
 * | `meridian.zone.cells` | gauge | |
 * | `meridian.zone.handoffs` | counter | `direction` (`out`, `in`) |
 * | `meridian.zone.handoff.retries` | counter | |
 * | `meridian.zone.inputs.applied` | counter | |
 * | `meridian.zone.ticks.skipped` | counter | |
 *
 * @module
 */
import { getMeter } from "@meridian/telemetry";
import type { ZoneServer } from "../zone-server.js";

/** Registers the zone server's observable metrics on the `meridian.gameserver` meter. */
export function registerZoneMetrics(zone: ZoneServer): void {
  const meter = getMeter("gameserver");
  const base = { "meridian.instance": zone.serverId };
  const players = meter.createObservableGauge("meridian.zone.players", { description: "Players owned" });
  const entities = meter.createObservableGauge("meridian.zone.entities", {
    description: "Entities simulated (players and NPCs)",
  });
  const cells = meter.createObservableGauge("meridian.zone.cells", { description: "Cells leased" });
  const handoffs = meter.createObservableCounter("meridian.zone.handoffs", {
    description: "Handoffs completed, by direction",
  });
  const retries = meter.createObservableCounter("meridian.zone.handoff.retries", {
    description: "Handoff offers sent again",
  });
  const applied = meter.createObservableCounter("meridian.zone.inputs.applied", {
    description: "Player inputs applied",
  });
  const skipped = meter.createObservableCounter("meridian.zone.ticks.skipped", {
    description: "Ticks dropped to catch up",
  });
  meter.addBatchObservableCallback(
    (result) => {
      const s = zone.stats();
      result.observe(players, s.players, base);
      result.observe(entities, zone.sim.entityCount(), base);
      result.observe(cells, s.cells.length, base);
      result.observe(handoffs, s.handoffsOut, { ...base, direction: "out" });
      result.observe(handoffs, s.handoffsIn, { ...base, direction: "in" });
      result.observe(retries, s.handoffRetries, base);
      result.observe(applied, s.inputsApplied, base);
      result.observe(skipped, s.ticksSkipped, base);
    },
    [players, entities, cells, handoffs, retries, applied, skipped],
  );
}
